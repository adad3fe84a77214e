"""An approved case back to the PACS: its approved mask as a DICOM SEG and its lung measurements as a
DICOM SR, built against the source image fetched again from the PACS (so the patient and study
modules are the PACS's, never kept here), then written to files and/or sent by STOW-RS. Audited."""
from __future__ import annotations

import io
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ..errors import LungSegError
from ..imaging.image_io import read_xray
from ..imaging.seg_reading import seg_source_uid
from ..people.access_control import User, require
from ..people.audit import AuditLog
from ..workflow.worklist import Worklist
from .connection import PacsError, PacsSettings, client, talking_to
from .dicom_export import measurement_report_of, segmentation_of
from .pacs_import import radiograph_bytes
from .sources import PacsSources


def as_part10(ds: Dataset) -> Dataset:
    """Give the dataset a file preamble: dicomweb-client sends a dataset as it is written, and only a
    Part 10 file (preamble + "DICM") comes back from every PACS intact."""
    ds.preamble = getattr(ds, "preamble", None) or b"\x00" * 128
    return ds


@dataclass
class CaseExport:
    seg: Dataset
    sr: Dataset
    sent: bool

    @staticmethod
    def file_bytes(ds: Dataset) -> bytes:
        buf = io.BytesIO()
        as_part10(ds).save_as(buf, enforce_file_format=True)
        return buf.getvalue()


def export_case(worklist: Worklist, settings: PacsSettings, number: int, actor: User, send: bool = True) -> CaseExport:
    """SEG + SR of case `number`'s approved version; sent to the PACS when `send`. Refused (store
    unchanged) unless the latest version is approved and the case came from this PACS."""
    require(actor, "export")
    store = worklist.store
    case = worklist.get(number)
    record = store.latest_version(case.image_hash)
    if record is None or record.status != "approved":
        raise LungSegError(f"case {number} has no approved version: only approved work goes back to the PACS")
    source = PacsSources(worklist.database).of(case.image_hash)
    if source is None:
        raise LungSegError(f"case {number} did not come from a PACS: there is no source image to attach a SEG to")
    if source.pacs_url != settings.address:
        raise LungSegError(f"case {number} came from another PACS ({source.pacs_url})")
    dicomweb = client(settings)
    with talking_to(settings, f"fetching the source image of case {number}"):
        image = dicomweb.retrieve_instance(source.study_uid, source.series_uid, source.sop_uid)
    if str(image.SOPInstanceUID) != source.sop_uid:
        raise PacsError("the PACS sent another image than the one this case came from")
    mask = store.load_mask(record.corrected_mask_hash)
    spacing = read_xray(radiograph_bytes(image)).pixel_spacing_mm
    reviewer = next((s.reviewer for s in reversed(store.status_changes(record.id)) if s.status == "approved"), "")
    try:
        seg = segmentation_of(image, mask, f"{record.model_name} {record.model_version}", reviewer)
        sr = measurement_report_of(image, seg, mask, spacing, reviewer)
    except ValueError as exc:
        raise LungSegError(f"case {number} cannot be written as DICOM: {exc}") from exc
    if send:
        with talking_to(settings, f"sending the segmentation of case {number}"):
            dicomweb.store_instances([as_part10(seg), as_part10(sr)])
    AuditLog(worklist.database).append(actor.username, "pacs_exported", f"case {number}",
                                      {"version": record.id[:8], "sent": send, "pacs": settings.address})
    return CaseExport(seg, sr, send)


def reference_from_pacs(worklist: Worklist, settings: PacsSettings, image_hash: str) -> bytes | None:
    """A DICOM SEG in the PACS drawn on this case's source image (the newest), as file bytes for
    `load_ground_truth`; None when the case is not from this PACS or the PACS has none."""
    source = PacsSources(worklist.database).of(image_hash)
    if source is None or source.pacs_url != settings.address:
        return None
    dicomweb = client(settings)
    with talking_to(settings, "looking for a segmentation of this image"):
        found = dicomweb.search_for_instances(study_instance_uid=source.study_uid, search_filters={"Modality": "SEG"})
        segs = [dicomweb.retrieve_instance(source.study_uid, item["0020000E"]["Value"][0], item["00080018"]["Value"][0])
                for item in found]
    drawn_on_it = [seg for seg in segs if seg_source_uid(seg) == source.sop_uid]
    if not drawn_on_it:
        return None
    newest = max(drawn_on_it, key=lambda seg: (str(seg.get("ContentDate", "")), str(seg.get("ContentTime", ""))))
    return CaseExport.file_bytes(newest)
