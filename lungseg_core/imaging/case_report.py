"""One reviewed case: segmentation with timing, comparison with a reference mask, figures and
downloads — everything the Segment and Compare pages show, computable without Streamlit."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..errors import MaskError
from .image_io import binarize_mask, decode_mask_pixels
from .lung_measurements import LungFigures, measure_lungs
from .metrics import OverlapMetrics, overlap_metrics
from .seg_reading import dicom_seg, seg_mask, seg_source_uid


def image_hash(pixels: np.ndarray) -> str:
    """Content hash of the decoded pixels: the cache and store key of an image."""
    h = hashlib.sha256()
    h.update(str((pixels.shape, pixels.dtype.str)).encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    return h.hexdigest()[:32]


@dataclass
class GroundTruth:
    mask: np.ndarray
    notes: list[str]


def load_ground_truth(data: bytes, shape: tuple[int, int], source_uid: str | None = None) -> GroundTruth:
    """Read a reference mask for an image of `shape` (a PNG/JPEG/DICOM mask, or a DICOM SEG); say what
    had to be done to it. A SEG drawn on another image is refused: by its size, and by the source
    image it names when this image's UID is known (`source_uid`, a case from the PACS)."""
    seg = dicom_seg(data)
    if seg is not None:
        return _seg_ground_truth(seg, shape, source_uid)
    notes: list[str] = []
    raw = decode_mask_pixels(data)
    mask = binarize_mask(raw, shape)
    if raw.shape != tuple(shape):
        notes.append(f"The mask is {raw.shape[1]}x{raw.shape[0]} but the image is {shape[1]}x{shape[0]}: "
                     "it was resized to the image (nearest neighbour). Check it belongs to this image.")
    levels = len(np.unique(raw))
    if levels > 2:
        notes.append(f"The mask is not binary ({levels} grey levels): thresholded at half its range.")
    if not mask.any():
        notes.append("The mask is empty (no lung pixels): metrics against it are 0 unless the prediction is empty too.")
    elif mask.all():
        raise MaskError("The mask marks every pixel as lung; it is not a lung mask.")
    return GroundTruth(mask, notes)


def _seg_ground_truth(seg: Any, shape: tuple[int, int], source_uid: str | None) -> GroundTruth:
    try:
        mask = seg_mask(seg)
    except (AttributeError, ValueError) as exc:
        raise MaskError(f"The DICOM SEG could not be read ({exc}).") from exc
    drawn_on = seg_source_uid(seg)
    if source_uid and drawn_on and drawn_on != source_uid:
        raise MaskError("This DICOM SEG was drawn on another image than this X-ray: it is not compared.")
    if mask.shape != tuple(shape):
        raise MaskError(f"This DICOM SEG is {mask.shape[1]}x{mask.shape[0]} but the X-ray is {shape[1]}x{shape[0]}: "
                        "it belongs to another image.")
    if not mask.any():
        raise MaskError("The DICOM SEG has no segmented pixels.")
    labels = [str(s.get("SegmentLabel", "")) for s in seg.get("SegmentSequence", [])]
    return GroundTruth(mask, [f"Reference from a DICOM SEG ({', '.join(labels) or 'unnamed segments'}): "
                              "the union of its segments."])


def compare(mask: np.ndarray, truth: np.ndarray) -> OverlapMetrics:
    return overlap_metrics(mask, truth)


def figures_record(model: str, figures: LungFigures, metrics: OverlapMetrics | None = None,
                   case_label: str | None = None, seconds: float | None = None) -> dict[str, Any]:
    """Flat dict of everything measured for one case (for CSV/JSON downloads)."""
    record: dict[str, Any] = {"case": case_label or "", "model": model}
    record.update(figures.as_dict())
    if metrics is not None:
        record.update({f"{k}_vs_reference": v for k, v in metrics.as_dict().items()})
    if seconds is not None:
        record["inference_seconds"] = round(seconds, 4)
    return record


def records_csv(records: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def records_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, indent=2)


def png_bytes(array: np.ndarray) -> bytes:
    """PNG of a bool mask (0/255), a gray or an RGB uint8 array."""
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def measure(mask: np.ndarray, spacing: tuple[float, float] | None) -> LungFigures:
    return measure_lungs(mask, spacing)


def download_name(label: str, model: str, what: str, ext: str, day: str | None = None) -> str:
    """A file name that says what it is: `<case or file>_<what>_<model>_<date>.<ext>`, in characters
    every file system takes (a second download of another case never overwrites the first)."""
    import re
    from datetime import date

    stem = re.sub(r"\.(png|jpe?g|dcm|dicom)$", "", label.strip(), flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:60] or "xray"
    return f"{stem}_{what}_{model}_{day or date.today().isoformat()}.{ext}"
