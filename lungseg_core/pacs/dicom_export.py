"""An approved lung mask as DICOM: a Segmentation (SEG) of the source radiograph with the right and
left lung as two binary segments, and the lung measurements as a Structured Report (TID 1500
Measurement Report) that points at those segments. Built with highdicom; both pass dciodvfy.

The source dataset (fetched from the PACS at export time) gives the patient and study modules; it
is never stored. The SEG names its algorithm (the model version that drew the mask) and says the
segments are SEMIAUTOMATIC: a reviewer approved an annotator's correction of it.
"""
from __future__ import annotations

import numpy as np
import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ..imaging.lung_measurements import LEFT, RIGHT, split_lungs

MANUFACTURER = "LungSeg Studio"
SOFTWARE_VERSION = "3"
#: SNOMED CT: Right lung, Left lung (segmented property types); Anatomical structure (category).
RIGHT_LUNG = hd.sr.CodedConcept("3341006", "SCT", "Right lung")
LEFT_LUNG = hd.sr.CodedConcept("44029006", "SCT", "Left lung")
ANATOMICAL_STRUCTURE = hd.sr.CodedConcept("123037004", "SCT", "Anatomical Structure")
AREA = hd.sr.CodedConcept("42798000", "SCT", "Area")
#: No standard code names a right-to-left lung area ratio: a local code (a "99" coding scheme, PS3.16 8.2).
RIGHT_LEFT_RATIO = hd.sr.CodedConcept("RLAREA", "99LUNGSEG", "Right to left lung area ratio")
HEIGHT = hd.sr.CodedConcept("121207", "DCM", "Height")
CHEST_XRAY = hd.sr.CodedConcept("43468-8", "LN", "XR Chest")
SEGMENTS = ((RIGHT, "Right lung", RIGHT_LUNG), (LEFT, "Left lung", LEFT_LUNG))


def person_name(name: str) -> str:
    """A DICOM person name from a user name: one component, marked as such by a trailing caret."""
    name = (name or "reviewer").replace("^", " ")[:60]
    return f"{name}^"


def _algorithm(model_version: str) -> hd.AlgorithmIdentificationSequence:
    return hd.AlgorithmIdentificationSequence(name=MANUFACTURER, version=model_version[:64],
                                              family=codes.cid7162.ArtificialIntelligence)


def segmentation_of(source: Dataset, mask: np.ndarray, model_version: str, reviewer: str = "") -> Dataset:
    """A binary SEG of `source` (single-frame CR/DX, no frame of reference): one frame per lung. The
    algorithm is the model version that drew the mask; the content says it was corrected by hand and
    approved, by whom (Content Creator's Name)."""
    labels = split_lungs(np.asarray(mask, bool))
    if labels.shape != (int(source.Rows), int(source.Columns)):
        raise ValueError(f"the mask is {labels.shape[1]}x{labels.shape[0]}, the source image "
                         f"{source.Columns}x{source.Rows}")
    present = [(n, label, code) for n, label, code in SEGMENTS if (labels == n).any()]
    if not present:
        raise ValueError("the mask has no lung: nothing to send")
    descriptions = [hd.seg.SegmentDescription(
        segment_number=i + 1, segment_label=label, segmented_property_category=ANATOMICAL_STRUCTURE,
        segmented_property_type=code, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=_algorithm(model_version)) for i, (_, label, code) in enumerate(present)]
    pixels = np.zeros(labels.shape, np.uint8)
    for i, (n, _, _) in enumerate(present):
        pixels[labels == n] = i + 1
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=9901,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER, software_versions=SOFTWARE_VERSION, device_serial_number="-",
        series_description="Lungs (LungSeg Studio, reviewed)", content_label="LUNGS",
        content_description=f"{model_version} mask, manual correction approved"[:64],
        content_creator_name=person_name(reviewer))
    # Type 2C for an image without a patient-based coordinate system; highdicom does not copy it
    seg.PatientOrientation = source.get("PatientOrientation") or ""
    return seg


def _measurements(region: np.ndarray, spacing: tuple[float, float] | None) -> list[hd.sr.Measurement]:
    area_px = int(region.sum())
    rows = np.flatnonzero(region.any(axis=1))
    height_px = int(rows[-1] - rows[0] + 1) if rows.size else 0
    if spacing:
        dy, dx = spacing
        return [hd.sr.Measurement(name=AREA, value=round(area_px * dy * dx / 100.0, 2),
                                  unit=hd.sr.CodedConcept("cm2", "UCUM", "square centimeter")),
                hd.sr.Measurement(name=HEIGHT, value=round(height_px * dy, 1),
                                  unit=hd.sr.CodedConcept("mm", "UCUM", "millimeter"))]
    return [hd.sr.Measurement(name=AREA, value=area_px, unit=hd.sr.CodedConcept("{pixels}", "UCUM", "pixels")),
            hd.sr.Measurement(name=HEIGHT, value=height_px, unit=hd.sr.CodedConcept("{pixels}", "UCUM", "pixels"))]


def _drop_segment_numbers_beside_frames(item: Dataset) -> None:
    """A referenced SEG frame names its frame, and the frame its segment: dciodvfy (PS3.3 C.17.3) does
    not allow Referenced Segment Number beside Referenced Frame Number, which highdicom writes both."""
    for child in item.get("ContentSequence", []):
        for ref in child.get("ReferencedSOPSequence", []):
            if "ReferencedFrameNumber" in ref and "ReferencedSegmentNumber" in ref:
                del ref.ReferencedSegmentNumber
        _drop_segment_numbers_beside_frames(child)


def measurement_report_of(source: Dataset, seg: Dataset, mask: np.ndarray, spacing: tuple[float, float] | None,
                          reviewer: str) -> Dataset:
    """TID 1500: per lung, its area and height, each group pointing at its SEG frame and the source image;
    the right lung's group also carries the right/left area ratio."""
    labels = split_lungs(np.asarray(mask, bool))
    observer = hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=person_name(reviewer))))
    right, left = int((labels == RIGHT).sum()), int((labels == LEFT).sum())
    groups = []
    for frame, segment in enumerate(seg.SegmentSequence, start=1):
        n = RIGHT if segment.SegmentLabel == "Right lung" else LEFT
        reference = hd.sr.ReferencedSegmentationFrame(
            sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, frame_number=frame,
            segment_number=int(segment.SegmentNumber),
            source_image=hd.sr.SourceImageForSegmentation(source.SOPClassUID, source.SOPInstanceUID))
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=str(segment.SegmentLabel)),
            referenced_segment=reference, finding_type=RIGHT_LUNG if n == RIGHT else LEFT_LUNG,
            measurements=_measurements(labels == n, spacing)
            + ([hd.sr.Measurement(name=RIGHT_LEFT_RATIO, value=round(right / left, 3),
                                  unit=hd.sr.CodedConcept("1", "UCUM", "no units"))] if n == RIGHT and left else [])))
    report = hd.sr.MeasurementReport(observation_context=observer, procedure_reported=CHEST_XRAY,
                                     imaging_measurements=groups, title=codes.cid7021.ImagingMeasurementReport)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[source, seg], content=report[0], series_number=9902, series_instance_uid=generate_uid(),
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER, is_complete=True,
        is_final=False, is_verified=False, series_description="Lung measurements (LungSeg Studio)")
    _drop_segment_numbers_beside_frames(sr)
    return sr
