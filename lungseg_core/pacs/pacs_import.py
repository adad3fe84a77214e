"""Bring chosen PACS images in as worklist cases (WADO-RS), through the one X-ray reader.

Each image is fetched, checked (an image, one frame), decoded by `read_xray` exactly as an upload is
(MONOCHROME1, VOI LUT, Imager vs Pixel Spacing), and added as a case; the same pixels are one case.
Only its UIDs and the PACS's address are kept (`sources`). An image that fails leaves the store as
it was and is listed with the reason; the others go on."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from ..imaging.image_io import ImageReadError, read_xray
from ..people.access_control import User, require
from ..people.audit import AuditLog
from ..workflow.worklist import Worklist
from .connection import PacsError, PacsSettings, client, talking_to
from .query import PacsImage
from .sources import PacsSources


@dataclass
class PacsImportReport:
    added: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    def summary(self) -> str:
        return (f"{len(self.added)} new case(s) from the PACS, {len(self.duplicates)} already in the worklist, "
                f"{len(self.refused)} refused")


def _describe(image: PacsImage) -> str:
    return " ".join(x for x in (image.modality, image.study_date, image.view) if x) or "an image"


def radiograph_bytes(ds: Dataset) -> bytes:
    """The instance as DICOM bytes for the reader, after what only a PACS sends: non-images and multi-frame objects."""
    if "PixelData" not in ds:
        kind = getattr(getattr(ds, "SOPClassUID", None), "name", None) or "no pixel data"
        raise PacsError(f"not an image ({kind}): only radiographs can be imported")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise PacsError(f"a multi-frame object ({frames} frames, e.g. a cine or tomosynthesis), not a chest radiograph")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def import_images(worklist: Worklist, settings: PacsSettings, images: list[PacsImage], actor: User,
                  label: str | None = None) -> PacsImportReport:
    require(actor, "segment")
    report = PacsImportReport()
    sources = PacsSources(worklist.database)
    dicomweb = client(settings)
    for image in images:
        what = _describe(image)
        try:
            with talking_to(settings, f"fetching {what}"):
                ds = dicomweb.retrieve_instance(image.study_uid, image.series_uid, image.sop_uid)
            xray = read_xray(radiograph_bytes(ds))
            del ds  # the header (names, IDs, dates) goes no further than here
            case, created = worklist.add_case(xray.pixels, actor, label, xray.pixel_spacing_mm)
            sources.remember(case.image_hash, settings.address, image.study_uid, image.series_uid, image.sop_uid)
        except (PacsError, ImageReadError) as exc:
            report.refused.append((what, str(exc)))
            continue
        (report.added if created else report.duplicates).append(case.number)
    AuditLog(worklist.database).append(actor.username, "pacs_imported", settings.address,
                                      {"added": len(report.added), "duplicates": len(report.duplicates),
                                       "refused": len(report.refused)})
    return report
