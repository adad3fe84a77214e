"""PACS throughput against a real Orthanc (started here, DICOMweb plugin, on loopback): images per
second imported (QIDO-RS search + WADO-RS fetch + the reader + a new case), and seconds per approved
case to build its DICOM SEG + SR (fetching the source again) and send them by STOW-RS.

Films: the first N of the cxr-lungs test split, as 12-bit DX with patient names (made with pydicom).

    .venv/bin/python bench/pacs.py [--n 40] [--exports 10]     # writes bench/results/pacs.txt
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/cxr-lungs"))
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--exports", type=int, default=10)
    args = ap.parse_args()
    from lungseg_core import DEFAULT_MODEL
    from lungseg_core.learning.dataset import load_gray, read_manifest
    from lungseg_core.pacs.connection import PacsSettings, client
    from lungseg_core.pacs.pacs_export import export_case
    from lungseg_core.pacs.pacs_import import import_images
    from lungseg_core.pacs.query import find_chest_images
    from lungseg_core.people.access_control import User
    from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
    from lungseg_core.workflow.worklist import Worklist
    from lungseg_testing.orthanc import PASSWORD, USER, orthanc_server
    from tests.test_pacs import _radiograph

    ann, rev = User("ann", frozenset({"annotator"})), User("rev", frozenset({"reviewer"}))
    cases = read_manifest(args.data, "test")[: args.n]
    with tempfile.TemporaryDirectory() as tmp, orthanc_server(Path(tmp) / "orthanc") as url:
        settings = PacsSettings(url, USER, PASSWORD)
        films = [_radiograph(load_gray(c.image_path), f"Bench^{i}", "DX") for i, c in enumerate(cases)]
        client(settings).store_instances(films)
        worklist = Worklist(SQLiteCorrectionsStore(Path(tmp) / "store"))
        started = time.perf_counter()
        found = find_chest_images(settings)
        report = import_images(worklist, settings, found, ann)
        import_s = time.perf_counter() - started
        seconds = []
        for case in worklist.list_cases()[: args.exports]:
            image = worklist.store.load_image(case.image_hash)
            mask = np.zeros(image.shape, bool)
            h, w = image.shape
            mask[h // 5: 4 * h // 5, w // 8: 4 * w // 9] = mask[h // 5: 4 * h // 5, 5 * w // 9: 7 * w // 8] = True
            record = worklist.store.save_correction(image, mask, mask, actor=ann, model_name=DEFAULT_MODEL,
                                                    model_version="bench", status="submitted")
            worklist.store.review(record.id, "approve", actor=rev)
            t = time.perf_counter()
            export_case(worklist, settings, case.number, rev)
            seconds.append(time.perf_counter() - t)
    lines = [f"PACS (Orthanc {settings.address.split('/')[2]}, loopback, this machine), {len(films)} DX films "
             f"{films[0].Columns}x{films[0].Rows} 12-bit",
             f"import (search + fetch + read + new case): {len(report.added)} cases in {import_s:.1f} s = "
             f"{len(report.added) / import_s:.1f} images/s",
             f"SEG + SR built and sent (source fetched again): median {statistics.median(seconds):.2f} s, "
             f"max {max(seconds):.2f} s over {len(seconds)} cases"]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "pacs.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
