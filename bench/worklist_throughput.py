"""Worklist throughput: import N X-rays into a fresh store, then segment them all (mask, 3-view
quality signals, estimated Dice, lung figures, each case written to the store) as the batch job does.

    .venv/bin/python bench/worklist_throughput.py [--n 500] [--batch 8] [--threads 2]

Prints images per second for import, segmentation and both; writes bench/results/worklist_throughput.txt.
Target (worklist issue): >= 10 images/s for segmentation on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lungseg_core.people.access_control import command_line_user  # noqa: E402
from lungseg_core.workflow.batch_segmentation import segment_cases  # noqa: E402
from lungseg_core.workflow.case_import import from_paths, import_sources  # noqa: E402
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore  # noqa: E402
from lungseg_core.learning.dataset import read_manifest  # noqa: E402
from lungseg_core.models.model_loading import load_model  # noqa: E402
from lungseg_core.models.model_versions import default_model_name  # noqa: E402
from lungseg_core.workflow.worklist import Worklist  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cxr-lungs"))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = [c.image_path for split in ("train", "val", "test") for c in read_manifest(args.data, split)][:args.n]
    actor = command_line_user()
    seg = load_model(default_model_name())
    with tempfile.TemporaryDirectory() as tmp:
        worklist = Worklist(SQLiteCorrectionsStore(Path(tmp) / "store"))
        t0 = time.perf_counter()
        report = import_sources(worklist, from_paths(paths), actor, how="bench")
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = segment_cases(worklist, seg, actor, batch=args.batch)
        t_seg = time.perf_counter() - t0
        flagged = sum(bool(c.flags) for c in worklist.list_cases())
    n = len(report.added)
    lines = [f"# bench/worklist_throughput.py: {n} X-rays (512x512 PNG from cxr-lungs), model {seg.name} "
             f"({seg.precision}), {args.threads} threads, batch {args.batch}",
             f"import (read, hash, store image + thumbnail):   {t_import:7.1f} s   {n / t_import:6.1f} images/s",
             f"segment (3 views, signals, estimate, store):     {t_seg:7.1f} s   {summary['done'] / t_seg:6.1f} images/s",
             f"both:                                            {t_import + t_seg:7.1f} s   "
             f"{n / (t_import + t_seg):6.1f} images/s",
             f"failed: {len(report.failed) + len(summary['failed'])}; flagged cases: {flagged} of {n}"]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results" / "worklist_throughput.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
