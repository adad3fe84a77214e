"""What the store keeps of a case that came from a PACS: the PACS's address and the study, series
and SOP instance UIDs, in their own table (`pacs_sources`), deleted with the case. Nothing else of
the DICOM header: the patient and study modules an export needs are read from the PACS again."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..storage.database import Database, open_database
from ..storage.files import utc_now


@dataclass(frozen=True)
class PacsSource:
    image_hash: str
    pacs_url: str
    study_uid: str
    series_uid: str
    sop_uid: str


class PacsSources:
    def __init__(self, database: Database | str | Path) -> None:
        self.database = open_database(database)
        self.database.ensure_schema()

    def remember(self, image_hash: str, pacs_url: str, study_uid: str, series_uid: str, sop_uid: str) -> None:
        """Where this X-ray came from (the first PACS source of a duplicate is kept)."""
        with self.database.transaction() as con:
            con.execute("INSERT INTO pacs_sources (image_hash, pacs_url, study_uid, series_uid, sop_uid, "
                        "added_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (image_hash, pacs_url, study_uid, series_uid, sop_uid, utc_now()))

    def of(self, image_hash: str) -> PacsSource | None:
        con = self.database.connect()
        try:
            row = con.execute("SELECT image_hash, pacs_url, study_uid, series_uid, sop_uid FROM pacs_sources "
                              "WHERE image_hash = ?", (image_hash,)).fetchone()
        finally:
            con.close()
        return PacsSource(*row) if row else None

    def known_sop_uids(self) -> set[str]:
        con = self.database.connect()
        try:
            return {r[0] for r in con.execute("SELECT sop_uid FROM pacs_sources")}
        finally:
            con.close()
