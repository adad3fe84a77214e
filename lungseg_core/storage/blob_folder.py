"""Where images, masks and thumbnails live: content-addressed files in a folder (`<root>/<ab>/<sha256>.png`),
written once, atomically. The folder may be a shared network mount that several app servers use; the one
small interface (put, get, path, remove, list) is all the store needs of it, so another blob store (an
object store) would implement these five and nothing else."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .store_errors import StoreError, StoreFileError


def check_content_hash(content_hash: str) -> str:
    if not (len(content_hash) == 64 and all(c in "0123456789abcdef" for c in content_hash)):
        raise StoreError(f"not a content hash: {content_hash!r}")
    return content_hash


class BlobFolder:
    """Content-addressed files under `root`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, content_hash: str) -> Path:
        check_content_hash(content_hash)
        return self.root / content_hash[:2] / f"{content_hash}.png"

    def put(self, data: bytes, created: list[str] | None = None) -> str:
        """Write once, atomically: temp file in the same folder, fsync, rename, fsync the folder. A hash
        whose file this call wrote is appended to `created` (so a failed save can remove what it wrote)."""
        content_hash = hashlib.sha256(data).hexdigest()
        path = self.path(content_hash)
        if path.exists():
            return content_hash
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            if created is not None:
                created.append(content_hash)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return content_hash

    def get(self, content_hash: str) -> bytes:
        try:
            return self.path(content_hash).read_bytes()
        except OSError as exc:
            raise StoreFileError(f"the file {content_hash[:12]} is missing from the store ({exc.strerror})") from exc

    def remove(self, content_hash: str) -> None:
        self.path(content_hash).unlink(missing_ok=True)

    def files(self) -> Iterator[Path]:
        """Every file in the folder, temporary ones of interrupted writes included."""
        yield from (p for p in sorted(self.root.glob("*/*")) if p.is_file())
