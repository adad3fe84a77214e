"""Retraining speed: wall time of a fine-tune of the default model on 50 corrections, 1 epoch,
mixed with the base training data (2 CPU threads), including the gate's evaluations; and the
app's response time to a click (view toggle on the Segment page, real browser) while that job
runs, against the same click with the machine idle.

    .venv/bin/python bench/retrain.py --data ../shared/data/cxr-lungs [--corrections 50] [--clicks 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lungseg_core.people.access_control import User, command_line_user  # noqa: E402

ANNOTATOR = User("bench-annotator", frozenset({"annotator"}))
REVIEWER = User("bench-reviewer", frozenset({"reviewer"}))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def make_store(folder: Path, data: Path, n: int):
    """n train-split cases saved as corrections: the model's mask as original, the reference as
    the corrected mask (as an annotator fixing the model would), all approved."""
    from lungseg_core import load_model
    from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
    from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest
    from lungseg_core.models.model_versions import default_model_name

    store = SQLiteCorrectionsStore(folder)
    seg = load_model(default_model_name())
    for case in read_manifest(data, "train")[:n]:
        image = load_gray(case.image_path)
        rec = store.save_correction(image, seg.predict(image), load_mask(case.mask_path), model_name=seg.name,
                                    model_version=seg.version, actor=ANNOTATOR, status="submitted")
        store.review(rec.id, "approve", actor=REVIEWER)
    return store


def click_times(url: str, clicks: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from app_latency import overlay_src, wait_src_change
    from lungseg_testing.browser import launch_chromium, sign_in_for_bench
    from lungseg_core.workflow.corrections_store import default_store_dir
    from lungseg_core.models.samples import list_samples

    times = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        sign_in_for_bench(page, url, default_store_dir())  # $LUNGSEG_STORE: the bench's temporary store
        page.goto(f"{url}/Segment")
        page.locator("input[type=file]").first.set_input_files(str(list_samples()[0].image_path))
        page.get_by_test_id("stImage").locator("img").first.wait_for(state="visible")
        views = ["Probability", "Mask overlay"]
        for i in range(clicks):
            old = overlay_src(page)
            start = time.perf_counter()
            page.get_by_test_id("stRadio").first.get_by_text(views[i % 2], exact=True).click()
            wait_src_change(page, old)
            times.append(time.perf_counter() - start)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--corrections", type=int, default=50)
    parser.add_argument("--clicks", type=int, default=8)
    args = parser.parse_args()
    data = Path(args.data).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.update({"LUNGSEG_STORE": str(tmp / "store"), "LUNGSEG_MODELS": str(tmp / "models"),
                           "LUNGSEG_JOBS": str(tmp / "jobs"), "HF_HUB_OFFLINE": "1"})
        import torch

        torch.set_num_threads(2)
        from lungseg_testing.browser import streamlit_app
        from lungseg_core.models.model_versions import default_model_name
        from lungseg_core.learning.retrain_jobs import active_job, latest_job, start_job
        from lungseg_core.learning.retraining import retrain

        store = make_store(tmp / "store", data, args.corrections)
        base = default_model_name()
        start = time.perf_counter()
        result = retrain(base, store, tmp / "job-direct", base_data=data, epochs=1)
        wall = time.perf_counter() - start
        lineage = result["card"]["lineage"]
        print(f"# bench/retrain.py --data {args.data} --corrections {args.corrections} (torch threads 2)")
        print(f"fine-tune {base} -> {result['name']}: {args.corrections} corrections "
              f"({lineage['corrections_train']} train / {lineage['corrections_holdout']} held back) + "
              f"{lineage['base_train_cases']} base cases, 1 epoch, incl. gate evaluations: {wall:.1f} s "
              f"({wall / 60:.2f} min; target <= 3 min)")
        print(f"gate: {'recommends promotion' if result['recommended'] else 'does not recommend promotion'} — {result['decision']['reason']}")
        with streamlit_app() as url:
            idle = click_times(url, args.clicks)
            start_job(base, str(tmp / "store"), data, epochs=3, actor=command_line_user())
            while (latest_job() or {}).get("state") != "running" or not (latest_job() or {}).get("step_in_epoch"):
                time.sleep(0.5)
            busy = click_times(url, args.clicks)
            still_running = active_job() is not None
            from lungseg_core.learning.retrain_jobs import cancel_job

            from lungseg_core.people.audit import AuditLog

            cancel_job(actor=command_line_user(), audit_log=AuditLog(tmp / "store" / "store.sqlite"))
        print(f"app click -> redraw, idle       : median {statistics.median(idle):.3f} s (n={len(idle)})")
        print(f"app click -> redraw, job running: median {statistics.median(busy):.3f} s (n={len(busy)}; "
              f"job still running at the end: {still_running})")


if __name__ == "__main__":
    main()
