"""What one annotator's actions cost the app server, measured on the server side (issue 25): CPU seconds of
the Streamlit server process (utime + stime from /proc, so the browser's own work is not counted) and
wall time until the page shows the result, per action: open a case, a brush stroke, a click-to-fix,
save, Save and next, the Worklist page. From the medians, how many annotators one server core carries
at a stated pace.

    .venv/bin/python bench/server_cost.py [--n 8]      # writes bench/results/server_cost.txt
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from lungseg_core.models.samples import list_samples  # noqa: E402
from lungseg_core.people.access_control import command_line_user  # noqa: E402
from lungseg_core.workflow.corrections_store import open_store  # noqa: E402
from lungseg_core.workflow.worklist import Worklist  # noqa: E402
from lungseg_testing.browser import (launch_chromium, metric_value, pick_tool, steady_box, streamlit_server,  # noqa: E402
                                      the_canvas,
                                      wait_metric_change, wait_until_idle)
from tests.conftest import add_browser_people, browser_sign_in  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

#: The pace the capacity figure assumes: one stroke every 5 s, one click-to-fix, one save, one Save and
#: next and one Worklist look per case, one case a minute.
PACE = {"a brush stroke": 12, "a click-to-fix": 1, "save": 1, "Save and next": 1, "the Worklist page": 1,
        "open a case": 1}


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Meter:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rows: dict[str, list[tuple[float, float]]] = {}

    def measure(self, name: str, action) -> None:  # type: ignore[no-untyped-def]
        cpu, wall = cpu_s(self.pid), time.perf_counter()
        action()
        self.rows.setdefault(name, []).append((cpu_s(self.pid) - cpu, time.perf_counter() - wall))


def stroke(page, row: float) -> None:  # type: ignore[no-untyped-def]
    """An erase stroke across the left lung at `row` (a share of the canvas height), on the canvas where
    it is now; a second row if the first erased nothing (the lung's outline differs per film)."""
    for attempt in (row, row - 0.12):
        box = steady_box(page, the_canvas(page))
        y = box["y"] + box["height"] * attempt
        before = metric_value(page, "Pixels removed")
        page.mouse.move(box["x"] + 0.15 * box["width"], y)
        page.mouse.down()
        for k in range(12):
            page.mouse.move(box["x"] + (0.15 + 0.025 * k) * box["width"], y)
        page.mouse.up()
        try:
            wait_metric_change(page, "Pixels removed", before, timeout_ms=20_000)
            break
        except AssertionError:
            continue
    wait_until_idle(page)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp())
    add_browser_people(root)
    worklist = Worklist(open_store(str(root)))
    for i in range(args.n * 2 + 2):  # cases to open and to move on to
        base = np.asarray(Image.open(list_samples()[i % 4].image_path))
        worklist.add_case(np.ascontiguousarray(np.roll(base, 3 * i, axis=1)), command_line_user())
    with streamlit_server(env={"LUNGSEG_STORE": str(root)}) as (url, proc), sync_playwright() as pw:
        meter = Meter(proc.pid)
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(120_000)
        browser_sign_in(page, url, "browser-annotator")
        nav = page.get_by_test_id("stSidebarNav")
        for i in range(args.n):
            number = worklist.list_cases()[i].number

            def open_case() -> None:
                page.goto(f"{url}/Correct?case={number}")
                page.get_by_text(f"Current case: Case {number}").wait_for()
                wait_until_idle(page)
            meter.measure("open a case", open_case)
            pick_tool(page, "Erase brush")
            wait_until_idle(page)
            meter.measure("a brush stroke", lambda: stroke(page, 0.45 + 0.2 * i / args.n))
            pick_tool(page, "Fix: add lung (click)")
            wait_until_idle(page)

            box = steady_box(page, the_canvas(page))

            def fix() -> None:
                before = metric_value(page, "Pixels removed")
                page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + (0.45 + 0.2 * i / args.n) * box["height"])
                try:
                    wait_metric_change(page, "Pixels removed", before, timeout_ms=20_000)
                except Exception:  # noqa: BLE001 - the network may leave this stroke as it is: still one run
                    pass
                wait_until_idle(page)
            meter.measure("a click-to-fix", fix)

            def save() -> None:
                page.get_by_role("button", name="Save correction").click()
                page.get_by_text("Saved version").first.wait_for()
                wait_until_idle(page)
            meter.measure("save", save)

            def save_and_next() -> None:
                page.get_by_role("button", name="Save and next").click()
                page.get_by_text(f"of case {number}").first.wait_for()  # the next case says what was saved
                page.wait_for_url(lambda u: not u.endswith(f"case={number}"))
                wait_until_idle(page)
            pick_tool(page, "Erase brush")  # an edit to save (not measured)
            wait_until_idle(page)
            stroke(page, 0.5 + 0.2 * i / args.n)
            meter.measure("Save and next", save_and_next)

            def worklist_page() -> None:
                nav.get_by_text("Worklist", exact=True).click()
                page.get_by_role("button", name="Next case").first.wait_for()
                wait_until_idle(page)
            meter.measure("the Worklist page", worklist_page)
        browser.close()
    lines = [f"# bench/server_cost.py --n {args.n}; {time.strftime('%Y-%m-%d')}; one server, one browser, 2 cores; "
             "server CPU = utime+stime of the Streamlit process; medians of n"]
    per_minute = 0.0
    for name, rows in meter.rows.items():
        cpu, wall = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        per_minute += cpu * PACE.get(name, 0)
        lines.append(f"{name:<20} server CPU {cpu:6.3f} s   wall {wall:6.2f} s   (n={len(rows)})")
    lines.append(f"an annotator at one stroke per 5 s and one case a minute costs {per_minute:.2f} server CPU s per "
                 f"minute: one server core carries ~{60 / per_minute:.0f} such annotators (at 100 % busy; plan ~70 %: "
                 f"{0.7 * 60 / per_minute:.0f})")
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results" / "server_cost.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
