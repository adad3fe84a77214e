"""Find chest radiographs in the PACS (QIDO-RS at instance level): CR and DX, body part chest, a date
range, optionally one view. What comes back is kept in memory only, and holds no patient name or
ID: the UIDs to fetch each image, and what a person needs to choose (date, modality, view, size)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from .connection import PacsSettings, client, talking_to

MODALITIES = ("CR", "DX")
FIELDS = ["StudyDate", "Modality", "BodyPartExamined", "ViewPosition", "Rows", "Columns", "NumberOfFrames",
          "SOPClassUID"]


@dataclass(frozen=True)
class PacsImage:
    study_uid: str
    series_uid: str
    sop_uid: str
    modality: str
    study_date: str
    view: str
    body_part: str
    rows: int | None
    columns: int | None
    frames: int

    def as_row(self) -> dict[str, Any]:
        """What the PACS panel lists (no identifiers of the patient)."""
        return {"date": self.study_date, "modality": self.modality, "view": self.view or "-",
                "body part": self.body_part or "-", "size": f"{self.columns}x{self.rows}" if self.rows else "-",
                "frames": self.frames}


def _value(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or []
    return values[0] if values else None


def _image(item: dict[str, Any]) -> PacsImage:
    return PacsImage(study_uid=_value(item, "0020000D"), series_uid=_value(item, "0020000E"),
                     sop_uid=_value(item, "00080018"), modality=_value(item, "00080060") or "",
                     study_date=_value(item, "00080020") or "", view=str(_value(item, "00185101") or ""),
                     body_part=str(_value(item, "00180015") or ""), rows=_value(item, "00280010"),
                     columns=_value(item, "00280011"), frames=int(_value(item, "00280008") or 1))


def find_chest_images(settings: PacsSettings, date_from: date | None = None, date_to: date | None = None,
                      view: str | None = None, modalities: tuple[str, ...] = MODALITIES,
                      limit: int = 500) -> list[PacsImage]:
    """Chest CR/DX instances, newest study first; `view` (PA, AP, LL, …) filters when given."""
    filters: dict[str, Any] = {"BodyPartExamined": "CHEST"}
    if date_from or date_to:
        filters["StudyDate"] = f"{date_from.strftime('%Y%m%d') if date_from else ''}-" \
                               f"{date_to.strftime('%Y%m%d') if date_to else ''}"
    found: list[PacsImage] = []
    dicomweb = client(settings)
    with talking_to(settings, "searching for chest radiographs"):
        for modality in modalities:
            items = dicomweb.search_for_instances(search_filters={**filters, "Modality": modality},
                                                  fields=FIELDS, limit=limit)
            found += [_image(item) for item in items]
    if view:
        found = [f for f in found if f.view.upper() == view.upper()]
    unique = {f.sop_uid: f for f in found if f.sop_uid and f.study_uid and f.series_uid}
    return sorted(unique.values(), key=lambda f: (f.study_date, f.sop_uid), reverse=True)[:limit]
