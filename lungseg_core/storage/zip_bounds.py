"""The one check of a zip's size before anything is read from it (zip bombs): how many files and how
many bytes unpacked. Importing X-rays and retraining from a corrections zip both use it."""
from __future__ import annotations

import zipfile

from ..errors import LungSegError

ZIP_MAX_FILES = 20_000
ZIP_MAX_BYTES = 8 * 1024 ** 3


def bounded_members(zf: zipfile.ZipFile, max_files: int = ZIP_MAX_FILES, max_bytes: int = ZIP_MAX_BYTES,
                    error: type[LungSegError] = LungSegError) -> list[zipfile.ZipInfo]:
    """The zip's files (folders left out), or `error` when there are too many or they unpack too big."""
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > max_files:
        raise error(f"the zip holds {len(members)} files, more than the {max_files} allowed")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise error(f"the zip unpacks to {total / 1e9:.1f} GB, more than {max_bytes / 1e9:.1f} GB allowed")
    return members
