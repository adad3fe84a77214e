"""The bundled sample cases (four test-split X-rays with masks, attributed in samples/README.md)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"


@dataclass(frozen=True)
class Sample:
    id: str
    source: str
    finding: str
    image_path: Path
    mask_path: Path

    @property
    def label(self) -> str:
        return f"{self.id} ({self.source}, {self.finding})"


def list_samples(directory: Path = SAMPLES_DIR) -> list[Sample]:
    with open(directory / "manifest.csv", newline="") as fh:
        return [Sample(r["id"], r["source"], r["finding"], directory / r["image_path"], directory / r["mask_path"])
                for r in csv.DictReader(fh)]
