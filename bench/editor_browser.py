"""The editor as an annotator meets it, in Chromium: how much of the X-ray is in view without
scrolling on Segment and Correct (1280x720 and 1440x900), and how long from a brush stroke's
mouse-up to the updated figures and from a click-to-fix click to the corrected mask (medians of N).

    .venv/bin/python bench/editor_browser.py [--n 20]
    # writes bench/results/editor_browser.json and .txt
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from lungseg_testing.browser import (hole_centres, launch_chromium, metric_value, pick_tool, steady_box, streamlit_app,  # noqa: E402
                                      the_canvas, wait_for_tool, wait_metric_change, wait_until_idle)
from lungseg_core.models.samples import list_samples  # noqa: E402
from tests.conftest import add_browser_people, browser_sign_in  # noqa: E402


def visible_share(page, locator) -> float:  # type: ignore[no-untyped-def]
    """Share of the element's area inside the viewport (the page scrolled to the top)."""
    page.evaluate("window.scrollTo(0, 0)")
    box = steady_box(page, locator)
    vw, vh = page.viewport_size["width"], page.viewport_size["height"]
    w = max(0.0, min(box["x"] + box["width"], vw) - max(box["x"], 0))
    h = max(0.0, min(box["y"] + box["height"], vh) - max(box["y"], 0))
    return w * h / (box["width"] * box["height"])


def open_sample(page, url: str, where: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/{where}")
    page.get_by_test_id("stSelectbox").filter(has_text="sample case").wait_for()
    page.get_by_test_id("stSelectbox").filter(has_text="sample case").click()
    page.get_by_role("option", name=list_samples()[0].label).click()
    page.get_by_role("button", name="Open sample").click()
    wait_until_idle(page)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp())
    add_browser_people(root)
    out: dict = {"visible_share": {}}
    with streamlit_app(env={"LUNGSEG_STORE": str(root)}) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        for size in ((1280, 720), (1440, 900)):
            context = browser.new_context(viewport={"width": size[0], "height": size[1]})
            page = context.new_page()
            page.set_default_timeout(120_000)
            browser_sign_in(page, url, "browser-annotator")
            open_sample(page, url, "Segment")
            image = page.get_by_test_id("stImage").first.locator("img")
            image.wait_for(state="visible")
            out["visible_share"][f"Segment {size[0]}x{size[1]}"] = round(visible_share(page, image), 3)
            open_sample(page, url, "Correct")
            canvas = the_canvas(page)
            out["visible_share"][f"Correct {size[0]}x{size[1]}"] = round(visible_share(page, canvas), 3)
            if size == (1280, 720):
                box = steady_box(page, canvas)
                strokes, clicks = [], []
                pick_tool(page, "Erase brush")
                for i in range(args.n):
                    y = box["y"] + box["height"] * (0.3 + 0.4 * i / args.n)
                    before = metric_value(page, "Pixels removed")
                    page.mouse.move(box["x"] + 0.2 * box["width"], y)
                    page.mouse.down()
                    for k in range(12):
                        page.mouse.move(box["x"] + (0.2 + 0.05 * k) * box["width"], y)
                    t = time.perf_counter()
                    page.mouse.up()
                    wait_metric_change(page, "Pixels removed", before)
                    strokes.append(time.perf_counter() - t)
                    wait_until_idle(page)
                # click-to-fix: erase N separate holes inside the lungs (not timed), then one click in each
                wait_until_idle(page)
                page.locator(".st-key-_reset button").first.click()
                page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stMetric]')].some("
                                       "e => e.innerText.includes('Pixels removed') && e.innerText.trim().endsWith('0'))")
                wait_until_idle(page)
                for width in range(7, 13):
                    page.keyboard.press("Alt+K")
                    wait_for_tool(page, f"Erase brush, {width} px wide")
                canvas.scroll_into_view_if_needed()  # the buttons on the right may have scrolled the page
                box = steady_box(page, canvas)
                scale = box["width"] / 512
                holes = hole_centres(args.n)
                for x, y in holes:
                    before = metric_value(page, "Pixels removed")
                    page.mouse.move(box["x"] + (x - 8) * scale, box["y"] + y * scale)
                    page.mouse.down()
                    for k in range(9):
                        page.mouse.move(box["x"] + (x - 8 + 2 * k) * scale, box["y"] + y * scale)
                    page.mouse.up()
                    wait_metric_change(page, "Pixels removed", before)
                    wait_until_idle(page)
                pick_tool(page, "Fix: add lung (click)")
                missed = 0
                for x, y in holes:
                    before = metric_value(page, "Pixels removed")
                    t = time.perf_counter()
                    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
                    try:
                        wait_metric_change(page, "Pixels removed", before, timeout_ms=20_000)
                    except Exception:  # noqa: BLE001 - a click that changed nothing is counted, not timed
                        missed += 1
                        continue
                    clicks.append(time.perf_counter() - t)
                    wait_until_idle(page)
                out["stroke_to_figures_s"] = {"median": statistics.median(strokes), "n": len(strokes),
                                              "max": max(strokes)}
                out["click_to_mask_s"] = {"median": statistics.median(clicks) if clicks else None, "n": len(clicks),
                                          "max": max(clicks) if clicks else None, "no_change": missed}
            context.close()
    (ROOT / "bench/results/editor_browser.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# bench/editor_browser.py (Chromium, this machine; one run)"]
    lines += [f"visible share of the X-ray without scrolling, {k}: {v:.0%}" for k, v in out["visible_share"].items()]
    s, c = out.get("stroke_to_figures_s", {}), out.get("click_to_mask_s", {})
    if s:
        lines.append(f"brush stroke mouse-up -> updated figures: median {s['median']:.2f} s (n={s['n']}, max {s['max']:.2f})")
    if c and c.get("median") is not None:
        lines.append(f"click-to-fix click in an erased hole -> corrected mask and figures: median {c['median']:.2f} s "
                     f"(n={c['n']}, max {c['max']:.2f}; {c.get('no_change', 0)} click(s) changed nothing)")
    (ROOT / "bench/results/editor_browser.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
