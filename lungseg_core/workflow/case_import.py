"""Import many X-rays at once as worklist cases: uploaded files, a zip, or a server folder.

Every file goes through the one reader (`image_io.read_xray`), one at a time (memory stays that of
the largest file); a file that cannot be read is listed with the reader's reason and the rest are
imported. The same pixels twice are one case. File names are only used in the report shown to
the person importing; the store keeps pixels, size and pixel spacing, never a name or a DICOM
identifier.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..people.access_control import User, require
from ..errors import LungSegError
from ..imaging.image_io import read_xray
from .worklist import Worklist
from ..storage.zip_bounds import ZIP_MAX_BYTES, ZIP_MAX_FILES, bounded_members  # noqa: F401 (re-exported)

#: One file larger than this is refused without being read (the largest detectors' 16-bit DICOMs are ~40 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: One zip member: at most this many bytes unpacked (read in chunks, so a member that lies about its
#: size is stopped there too), and at most this unpacked/packed ratio: X-rays barely compress, a
#: member that inflates 100x is a zip bomb, not a film.
ZIP_MAX_MEMBER_BYTES = 64 * 1024 * 1024
ZIP_MAX_RATIO = 100
_CHUNK = 1024 * 1024

Source = tuple[str, Callable[[], bytes], int]  # (name for the report, read it, size in bytes)


@dataclass
class ImportReport:
    added: list[int] = field(default_factory=list)                   # new case numbers
    duplicates: list[tuple[str, int]] = field(default_factory=list)  # (file, existing case number)
    failed: list[tuple[str, str]] = field(default_factory=list)      # (file, why)
    warnings: list[tuple[str, str]] = field(default_factory=list)    # (file, what to know), e.g. burned-in text

    def summary(self) -> str:
        parts = [f"{len(self.added)} new case{'s' * (len(self.added) != 1)}"]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} already in the worklist")
        if self.failed:
            parts.append(f"{len(self.failed)} could not be read")
        if self.warnings:
            parts.append(f"{len(self.warnings)} with a warning")
        return ", ".join(parts)


def import_sources(worklist: Worklist, sources: Iterable[Source], actor: User, label: str | None = None,
                   how: str = "upload", on_file: Callable[[int], None] | None = None) -> ImportReport:
    """Read and store each source in turn; one bad file never stops the others."""
    require(actor, "segment")
    report = ImportReport()
    seen = 0
    for name, read, size in sources:
        seen += 1
        if size > MAX_FILE_BYTES:
            report.failed.append((name, f"{size / 1e6:.0f} MB is larger than the {MAX_FILE_BYTES / 1e6:.0f} MB "
                                        "allowed for one X-ray"))
            continue
        try:
            image = read_xray(read())
            case, is_new = worklist.add_case(image.pixels, actor, label, image.pixel_spacing_mm)
        except (LungSegError, OSError, zipfile.BadZipFile, RuntimeError) as exc:
            report.failed.append((name, str(exc) or type(exc).__name__))
            continue
        for warning in image.meta.get("warnings", []):
            report.warnings.append((name, f"case {case.number}: {warning}"))
        if is_new:
            report.added.append(case.number)
        else:
            report.duplicates.append((name, case.number))
        if on_file:
            on_file(seen)
    worklist.record_import(actor, len(report.added), len(report.duplicates), len(report.failed), how)
    return report


def from_uploads(files: Iterable[tuple[str, bytes]]) -> Iterator[Source]:
    for name, data in files:
        yield name, (lambda data=data: data), len(data)


def from_zip(path_or_file: str | Path | object) -> Iterator[Source]:
    """Members of a zip (not extracted to disk), after checking its size bounds; folders are skipped."""
    try:
        zf = zipfile.ZipFile(path_or_file)  # type: ignore[arg-type]
    except zipfile.BadZipFile as exc:
        raise LungSegError(f"not a zip file ({exc})") from exc
    with zf:
        for m in bounded_members(zf):
            yield m.filename, (lambda m=m: _read_member(zf, m)), min(m.file_size, ZIP_MAX_MEMBER_BYTES)


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """The member's bytes, inflated chunk by chunk and stopped at ZIP_MAX_MEMBER_BYTES, whatever its
    header claims (memory stays bounded by one film)."""
    if member.file_size > ZIP_MAX_MEMBER_BYTES:
        raise LungSegError(f"{member.file_size / 1e6:.0f} MB unpacked is more than the "
                           f"{ZIP_MAX_MEMBER_BYTES / 1e6:.0f} MB allowed for one X-ray in a zip")
    if member.file_size > _CHUNK and member.file_size > ZIP_MAX_RATIO * max(1, member.compress_size):
        raise LungSegError(f"it unpacks {member.file_size / max(1, member.compress_size):.0f}x (a zip bomb, "
                           "not an X-ray)")
    out = bytearray()
    with zf.open(member) as fh:
        while chunk := fh.read(_CHUNK):
            out += chunk
            if len(out) > ZIP_MAX_MEMBER_BYTES:
                raise LungSegError(f"it unpacks to more than {ZIP_MAX_MEMBER_BYTES / 1e6:.0f} MB")
    return bytes(out)


def from_paths(paths: Iterable[str | Path]) -> Iterator[Source]:
    """Files and folders (recursively, in name order); a zip file is opened and its members imported."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            yield str(path), _missing(path), 0
            continue
        for f in files:
            if f.suffix.lower() == ".zip":
                try:
                    for name, read, size in from_zip(f):
                        yield f"{f}:{name}", read, size
                except LungSegError as exc:
                    yield str(f), unreadable(str(exc)), 0
            else:
                yield str(f), (lambda f=f: f.read_bytes()), f.stat().st_size


def _missing(path: Path) -> Callable[[], bytes]:
    return unreadable(f"no such file or folder: {path}")


def unreadable(message: str) -> Callable[[], bytes]:
    """A source that cannot be read: the import lists it with `message`."""
    def read() -> bytes:
        raise LungSegError(message)
    return read
