"""The one store interface (`CorrectionsStore`) and the records it hands out. Worklist, working copies,
claims, exports, the pages and the command line depend on this; `DatabaseCorrectionsStore` implements it
over a SQLite file or a Postgres server, and another backend would implement this and nothing else."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from ..people.access_control import User
from ..storage.database import Database


@dataclass(frozen=True)
class Correction:
    """One saved version. Masks and image are referenced by content hash."""

    id: str
    image_hash: str
    model_name: str
    model_version: str
    original_mask_hash: str
    corrected_mask_hash: str
    annotator: str
    created_at: str
    note: str
    status: str
    parent_id: str | None
    case_label: str | None
    height: int
    width: int
    pixel_spacing_mm: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatusChange:
    correction_id: str
    status: str
    reviewer: str
    note: str
    changed_at: str


class CorrectionsStore(Protocol):
    """The one store interface: what `Worklist`, working copies, claims, the pages and the command line
    use. `DatabaseCorrectionsStore` implements it; another backend implements this and nothing else."""

    root: Path  # the folder of the store's files (blobs, site estimators, jobs)
    address: str  # what `open_store` takes to open this store again (a job process, another server)
    database: Database  # where the records are; the worklist, claims, accounts and audit share it

    def save_correction(self, image: np.ndarray, original_mask: np.ndarray, corrected_mask: np.ndarray, *,
                        actor: User, model_name: str, model_version: str, note: str = "",
                        status: str = "draft", parent_id: str | None = None, case_label: str | None = None,
                        pixel_spacing_mm: tuple[float, float] | None = None) -> Correction: ...
    def review(self, correction_id: str, action: str, actor: User, note: str = "") -> Correction: ...
    def delete_case(self, image_hash: str, actor: User, reason: str) -> int: ...
    def latest_version(self, image_hash: str) -> Correction | None: ...
    def get(self, correction_id: str) -> Correction: ...
    def list_corrections(self, status: str | None = None, annotator: str | None = None,
                         model_name: str | None = None, latest_only: bool = False) -> list[Correction]: ...
    def history(self, correction_id: str) -> list[Correction]: ...
    def status_changes(self, correction_id: str) -> list[StatusChange]: ...
    def load_image(self, content_hash: str) -> np.ndarray: ...
    def load_mask(self, content_hash: str) -> np.ndarray: ...
    # content-addressed files (images, masks, thumbnails) that the worklist and working copies keep too
    def put_blob(self, data: bytes, created: list[str] | None = None) -> str: ...
    def get_blob(self, content_hash: str) -> bytes: ...
    def remove_unreferenced(self, hashes: list[str]) -> None: ...
    # the store's health, as the pages and `store check` show it
    def write_problem(self) -> str | None: ...
    def file_problem(self, record: Correction) -> str | None: ...
    def orphan_files(self, min_age_s: float = 3600.0) -> list[Path]: ...
    def sweep_orphans(self, actor: User, min_age_s: float = 3600.0) -> list[Path]: ...
    def iter_files(self) -> Iterator[Path]: ...
