"""File plumbing every floor uses: the store's folder, atomic writes, the PNG of an array, the key
under which the store holds an X-ray, and the store's clock."""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

PROJECT_STORE_DIR = Path(__file__).resolve().parents[2] / "store"


def default_store_dir() -> Path:
    """$LUNGSEG_STORE or the project's store/ folder (kept out of git)."""
    return Path(os.environ.get("LUNGSEG_STORE", PROJECT_STORE_DIR))


def store_folder(url: str | Path | None = None) -> Path:
    """The folder of a store given as `sqlite:///path/to/dir`, a plain folder path, or None (the
    default folder). The one reading of a store's address; other schemes are refused by `open_store`."""
    if url is None:
        return default_store_dir()
    text = str(url)
    return Path(text[len("sqlite:///"):] if text.startswith("sqlite:///") else text)  # sqlite:////abs -> /abs


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def atomic_write(path: Path, write: Any) -> None:
    """`write(tmp_path)` into a temporary file beside `path`, fsync, then rename over `path`: a reader
    sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def png_of(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def image_for_storage(image: np.ndarray) -> np.ndarray:
    """Keep 8- and 16-bit pixels as they are; other types (DICOM floats) are scaled to 16 bits."""
    arr = np.asarray(image)
    if arr.dtype in (np.uint8, np.uint16):
        return arr
    lo, hi = float(arr.min()), float(arr.max())
    return np.round((arr - lo) / max(hi - lo, 1e-12) * 65535).astype(np.uint16)


def stored_image_hash(image: np.ndarray) -> str:
    """The key under which the store holds this X-ray (its cases, versions, claims and working
    copies): the content hash of the stored PNG. The app keys an open X-ray by the same value."""
    return hashlib.sha256(png_of(image_for_storage(np.asarray(image)))).hexdigest()
