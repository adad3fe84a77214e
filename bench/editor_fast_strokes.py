"""Do quick successive brush strokes all reach the mask? (Chromium, the Correct page.)

Six short erase strokes, each in its own spot well inside the lungs, with `gap` ms between one
stroke's mouse-up and the next one's mouse-down; then the history's position (one step per applied
stroke, read from the person's working copy in the store) says how many were applied. A stroke can
be lost when the canvas component is emptied (after the previous stroke was applied) within 200 ms
of its mouse-up: the component reports drawings 200 ms late and a new drawing cancels the report.

    .venv/bin/python bench/editor_fast_strokes.py [--gaps 1000,300,100]
    # writes bench/results/editor_fast_strokes.txt; also prints the bytes the app sends per stroke
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.editor_browser import open_sample  # noqa: E402
from lungseg_testing.browser import (hole_centres, launch_chromium, pick_tool, steady_box, streamlit_app,  # noqa: E402
                                      the_canvas, wait_until_idle, working_copy_steps)
from tests.conftest import add_browser_people, browser_sign_in  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gaps", default="1000,300,100")
    args = ap.parse_args()
    gaps = [int(g) for g in args.gaps.split(",")]
    store_dir = Path(tempfile.mkdtemp()) / "store"
    add_browser_people(store_dir)
    lines = ["# bench/editor_fast_strokes.py (Chromium 1280x720, this machine; one run)"]
    with streamlit_app(env={"LUNGSEG_STORE": str(store_dir)}) as url, sync_playwright() as pw:
        page = launch_chromium(pw).new_context(viewport={"width": 1280, "height": 720}).new_page()
        page.set_default_timeout(120_000)
        received = [0]  # bytes the app sent over its websocket (what each run costs the network)
        bundles = []  # which canvas bundle the page loaded (ours, patched, or the package's)
        page.on("request", lambda r: bundles.append(r.url.rsplit("/", 1)[-1]) if r.url.endswith(".js") and "canvas" in r.url
                else None)
        page.on("websocket", lambda ws: ws.on("framereceived", lambda data: received.__setitem__(0, received[0] + len(data))))
        browser_sign_in(page, url, "browser-annotator")
        open_sample(page, url, "Correct")
        canvas = the_canvas(page)
        box = steady_box(page, canvas)
        pick_tool(page, "Erase brush")
        scale = box["width"] / 512
        spots = hole_centres(6 * len(gaps), spacing=30)
        done = 0
        before = received[0]
        for j, gap in enumerate(gaps):
            for x, y in spots[6 * j: 6 * j + 6]:
                page.mouse.move(box["x"] + (x - 8) * scale, box["y"] + y * scale)
                page.mouse.down()
                for k in range(9):
                    page.mouse.move(box["x"] + (x - 8 + 2 * k) * scale, box["y"] + y * scale)
                page.mouse.up()
                page.wait_for_timeout(gap)
            page.wait_for_timeout(4000)
            wait_until_idle(page)
            steps = working_copy_steps(store_dir)
            lines.append(f"{gap:>5} ms between strokes: {steps - done} of 6 strokes applied")
            done = steps
        lines.append(f"canvas bundle loaded: {', '.join(sorted(set(bundles))) or 'none seen'} "
                     "(index-canvas.js: the editor's patched copy, reports at once)")
        lines.append(f"received from the app per applied stroke: {(received[0] - before) / 1024 / max(done, 1):.0f} KB "
                     f"(all runs the strokes caused, over the websocket)")
    (ROOT / "bench/results/editor_fast_strokes.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
