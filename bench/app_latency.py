"""App latency in a real browser (Playwright + Debian's chromium against `streamlit run`):
median time from uploading an X-ray to its overlay being shown (a fresh image each time, so
the model really runs), and from changing the opacity to the redrawn overlay.

    .venv/bin/python bench/app_latency.py [--runs 10] [--model NAME]
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
from PIL import Image  # noqa: E402

from lungseg_testing.browser import launch_chromium, sign_in_for_bench, streamlit_app  # noqa: E402
from lungseg_core import DEFAULT_MODEL  # noqa: E402
from lungseg_core.models.samples import list_samples  # noqa: E402


def unique_xrays(n: int, folder: Path) -> list[Path]:
    """Sample X-rays with a different faint noise each: new content hash, no cache hits."""
    rng = np.random.default_rng(0)
    bases = [np.asarray(Image.open(s.image_path)).astype(np.int16) for s in list_samples()]
    paths = []
    for i in range(n):
        img = np.clip(bases[i % len(bases)] + rng.integers(-2, 3, bases[0].shape), 0, 255).astype(np.uint8)
        path = folder / f"xray_{i}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def overlay_src(page) -> str | None:  # type: ignore[no-untyped-def]
    img = page.get_by_test_id("stImage").locator("img").first
    return img.get_attribute("src") if img.count() else None


def wait_src_change(page, old: str | None, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        src = overlay_src(page)
        if src and src != old and page.get_by_test_id("stImage").locator("img").first.evaluate(
                "img => img.complete && img.naturalWidth > 0"):
            return
        time.sleep(0.01)
    raise TimeoutError("overlay did not change")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    upload_times, opacity_times = [], []
    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_app(env={"LUNGSEG_STORE": str(Path(tmp) / "store")}) as url, sync_playwright() as p:
        files = unique_xrays(args.runs + 1, Path(tmp))
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        sign_in_for_bench(page, url, Path(tmp) / "store")
        page.goto(f"{url}/Segment")
        page.get_by_text("Upload a chest X-ray").wait_for()
        sidebar_select = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox")
        if args.model not in sidebar_select.inner_text():
            sidebar_select.click()
            page.get_by_role("option", name=args.model, exact=True).click()
        uploader = page.locator("input[type=file]").first
        for i, path in enumerate(files):
            old = overlay_src(page)
            start = time.perf_counter()
            uploader.set_input_files(str(path))
            wait_src_change(page, old)
            if i > 0:  # the first upload also loads the model
                upload_times.append(time.perf_counter() - start)
        thumb = page.get_by_test_id("stSlider").get_by_role("slider").first
        for i in range(args.runs):
            old = overlay_src(page)
            thumb.focus()
            start = time.perf_counter()
            thumb.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            wait_src_change(page, old)
            opacity_times.append(time.perf_counter() - start)
        browser.close()
    print(f"# bench/app_latency.py --runs {args.runs} --model {args.model} (chromium headless, 127.0.0.1)")
    print(f"upload -> overlay shown : median {statistics.median(upload_times):.3f} s "
          f"(min {min(upload_times):.3f}, max {max(upload_times):.3f}, n={len(upload_times)})  target <= 1.0 s")
    print(f"opacity -> redraw       : median {statistics.median(opacity_times):.3f} s "
          f"(min {min(opacity_times):.3f}, max {max(opacity_times):.3f}, n={len(opacity_times)})  target <= 0.3 s")


if __name__ == "__main__":
    main()
