"""A DICOM Segmentation (SEG) as a lung mask: from this app or another tool (3D Slicer, MONAI Label,
OHIF), binary or fractional, one frame per segment; the union of its segments is the lung. Also the
image it says it was drawn on, so that a SEG of another X-ray is refused, not compared."""
from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def dicom_seg(data: bytes) -> Dataset | None:
    """The dataset when `data` is a DICOM SEG file, else None (other files go to the image reader)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=False)
    except (InvalidDicomError, ValueError, EOFError):
        return None
    return ds if str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS else None


def seg_mask(seg: Dataset) -> np.ndarray:
    """The union of the SEG's segments as one bool mask (any frame above zero)."""
    frames = np.asarray(seg.pixel_array)
    frames = frames[None] if frames.ndim == 2 else frames
    return (frames > 0).any(axis=0)


def seg_source_uid(seg: Dataset) -> str | None:
    """The SOP Instance UID of the image the SEG was drawn on (None if it names none)."""
    for series in seg.get("ReferencedSeriesSequence", []):
        for instance in series.get("ReferencedInstanceSequence", []):
            return str(instance.ReferencedSOPInstanceUID)
    return None
