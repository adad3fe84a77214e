"""Working through the worklist in a real browser: clicks and waiting per case.

A fresh store gets N X-rays (val split), segmented as the batch job does. One annotator in Chromium
(1400x1000) opens Correct, takes the first case with "Start with the next case", then for each case:
a small erase stroke (the edit; 8 of every 10 cases) and "Save and next". Counted per case: clicks
(mouse clicks on controls; the stroke itself is the edit, not a click) and the seconds of waiting
from "Save and next" until the next case's canvas is ready (URL changed, no script running).

    .venv/bin/python bench/worklist_browser.py [--cases 20] [--keyboard]

--keyboard: the same work with the page's shortcuts where it has them (Alt+2 for the erase brush,
Ctrl+Enter for Save and next); a key press is not a click, "submitted" is still clicked once.

Targets: <= 3 clicks a case with the mouse, <= 2 with the keyboard, Save and next p90 <= 1.0 s.
Writes bench/results/worklist_browser.txt (or worklist_browser_keyboard.txt).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lungseg_testing.browser import (draw_erase_stroke, pick_tool, launch_chromium, sign_in_for_bench,  # noqa: E402
                                     streamlit_app, wait_until_idle)
from lungseg_core.people.access_control import command_line_user  # noqa: E402
from lungseg_core.workflow.batch_segmentation import segment_cases  # noqa: E402
from lungseg_core.workflow.case_import import from_paths, import_sources  # noqa: E402
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore  # noqa: E402
from lungseg_core.learning.dataset import read_manifest  # noqa: E402
from lungseg_core.models.model_loading import load_model  # noqa: E402
from lungseg_core.models.model_versions import default_model_name  # noqa: E402
from lungseg_core.workflow.worklist import Worklist  # noqa: E402


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cxr-lungs"))
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--keyboard", action="store_true", help="shortcuts instead of clicks where the page has them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = Path(tmp) / "store"
        worklist = Worklist(SQLiteCorrectionsStore(store_dir))
        paths = [c.image_path for c in read_manifest(args.data, "val")][:args.cases]
        import_sources(worklist, from_paths(paths), command_line_user(), how="bench")
        segment_cases(worklist, load_model(default_model_name()), command_line_user())
        clicks: list[int] = []
        waits: list[float] = []
        edited = 0
        with streamlit_app(env={"LUNGSEG_STORE": str(store_dir), "LUNGSEG_JOBS": str(Path(tmp) / "jobs")}) as url, \
                sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            sign_in_for_bench(page, url, store_dir)
            page.goto(f"{url}/Correct")
            page.get_by_role("button", name="Start with the next case").click()
            page.wait_for_url(re.compile(r"case=\d+"))
            wait_until_idle(page)
            for i in range(args.cases):
                n = 0
                if i == 0:  # once per session: erase brush and "submitted" stay chosen
                    if args.keyboard:
                        page.keyboard.press("Alt+2")
                        wait_until_idle(page)
                    else:
                        pick_tool(page, "Erase brush")
                        n += 1
                    page.get_by_test_id("stRadio").filter(has_text="Status").get_by_text("submitted", exact=True).click()
                    wait_until_idle(page)
                    n += 1
                if i % 5 != 4:  # 8 of 10 cases get a small edit
                    # re-clicking the already chosen erase brush changes nothing; not counted
                    try:
                        draw_erase_stroke(page, 250 + 10 * (i % 5), 150, 260, 15)
                    except Exception:
                        page.screenshot(path="/tmp/probe/wl_fail.png")
                        raise
                    edited += 1
                    wait_until_idle(page)
                before = page.url
                start = time.perf_counter()
                if args.keyboard:
                    page.locator("canvas.upper-canvas").last.hover()  # focus on the page, not in a field
                    page.keyboard.press("Control+Enter")
                else:
                    page.get_by_role("button", name="Save and next").click()
                    n += 1
                if i == args.cases - 1:
                    page.get_by_text("No case is waiting").wait_for()
                else:
                    page.wait_for_function("u => location.href !== u", arg=before)
                    wait_until_idle(page)
                    page.locator("canvas.upper-canvas").last.wait_for(state="visible")
                wait_until_idle(page)
                waits.append(time.perf_counter() - start)
                clicks.append(n)
            browser.close()
        statuses = [c.status for c in worklist.list_cases()]
    lines = [f"# bench/worklist_browser.py{' --keyboard' if args.keyboard else ''}: {args.cases} cases, one "
             f"annotator in Chromium 1400x1000, {edited} with an erase stroke",
             f"clicks per case: median {statistics.median(clicks):.0f}, max {max(clicks)} (first case: {clicks[0]}: "
             + ("'submitted' once per session; Alt+2 and Ctrl+Enter are key presses)" if args.keyboard else
                "choosing the erase brush and 'submitted' once per session)"),
             f"waiting from 'Save and next' to the next case ready: median {statistics.median(waits):.2f} s, "
             f"p90 {np.percentile(waits, 90):.2f} s, max {max(waits):.2f} s",
             f"cases submitted in the store afterwards: {statuses.count('submitted')} of {len(statuses)}"]
    text = "\n".join(lines)
    print(text)
    out = "worklist_browser_keyboard.txt" if args.keyboard else "worklist_browser.txt"
    (ROOT / "bench" / "results" / out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
