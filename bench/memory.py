"""Peak memory of the app server through odd files and a 20-image session with every model on
Compare, driven in Chromium; prints the peak RSS (VmHWM) and the RSS after each phase.

Odd files: a 296 KB 12000x12000 16-bit PNG, a 7.9 MB 60-frame DICOM, a 32x4,000,000 PNG.
Goal (issue 10): peak RSS <= 1.5 GB.

    .venv/bin/python bench/memory.py [--images 20]
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from lungseg_testing.browser import launch_chromium, rss_mb, streamlit_server  # noqa: E402
from lungseg_core import list_models  # noqa: E402
from lungseg_core.people.accounts import UserDirectory  # noqa: E402
from lungseg_core.learning.dataset import read_manifest  # noqa: E402

PASSWORD = "peak resident set"


def odd_files(folder: Path) -> list[Path]:
    from dicom_factory import make_dicom  # tests/dicom_factory.py
    import pydicom

    huge = folder / "huge_16bit.png"
    Image.fromarray(np.zeros((12000, 12000), np.uint16)).save(huge)
    frames = np.stack([(np.arange(256 * 256).reshape(256, 256) * (i + 1) % 4000).astype(np.uint16) for i in range(60)])
    ds = pydicom.dcmread(io.BytesIO(make_dicom(frames[0])))
    ds.NumberOfFrames, ds.PixelData = 60, frames.tobytes()
    multi = folder / "multi_frame.dcm"
    ds.save_as(multi, enforce_file_format=True)
    thin = folder / "thin.png"
    Image.fromarray((np.arange(4_000_000, dtype=np.uint32) % 251).astype(np.uint8)[None].repeat(32, 0)).save(thin)
    return [huge, multi, thin]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--arenas", help="MALLOC_ARENA_MAX for the server (default: as tools/run_app.sh sets it)")
    parser.add_argument("--max-models", type=int, help="LUNGSEG_MAX_MODELS for the server (default: the app's)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cxr-lungs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        UserDirectory(tmp / "store" / "store.sqlite").create_first_admin("bench", PASSWORD)
        files = odd_files(tmp)
        print("odd files:", ", ".join(f"{p.name} {p.stat().st_size / 1e6:.2f} MB" for p in files))
        cases = read_manifest(args.data, "val")[: args.images]
        env = {"LUNGSEG_STORE": str(tmp / "store"), **({"MALLOC_ARENA_MAX": args.arenas} if args.arenas else {}),
               **({"LUNGSEG_MAX_MODELS": str(args.max_models)} if args.max_models else {})}
        with streamlit_server(env=env) as (url, proc):
            samples: list[float] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    samples.append(rss_mb(proc.pid))
                    time.sleep(0.1)

            threading.Thread(target=watch, daemon=True).start()
            phases = [("server started", rss_mb(proc.pid))]
            with sync_playwright() as p:
                browser = launch_chromium(p)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(180_000)
                page.goto(url)
                page.get_by_label("User name").fill("bench")
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_text("Signed in as").wait_for()
                page.goto(f"{url}/Segment")
                for f in files:
                    page.locator("input[type=file]").first.set_input_files(str(f))
                    page.get_by_text(f.name).first.wait_for()
                    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
                    page.wait_for_timeout(1500)
                    shown = page.get_by_test_id("stAlert").first.inner_text()[:110].replace("\n", " ")
                    phases.append((f"after {f.name} ({shown})", rss_mb(proc.pid)))
                started = time.perf_counter()
                models = list_models()
                nav = page.get_by_test_id("stSidebarNav")
                page.set_default_timeout(60_000)
                for i, case in enumerate(cases):
                  try:
                    nav.get_by_text("Segment", exact=True).click()  # in-app navigation keeps the session
                    page.locator("input[type=file]").first.set_input_files(str(case.image_path))
                    page.get_by_text(case.image_path.name).first.wait_for()  # the uploader took this file
                    page.wait_for_timeout(300)
                    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
                    page.get_by_text("Share of image").first.wait_for()
                    nav.get_by_text("Compare", exact=True).click()
                    page.get_by_text("Agreement across models").first.wait_for()
                    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
                    if i in (0, len(cases) // 2, len(cases) - 1):
                        phases.append((f"after image {i + 1} on Segment + Compare ({len(models)} models)",
                                       rss_mb(proc.pid)))
                  except Exception:
                    page.screenshot(path="/tmp/bench_memory_failure.png", full_page=True)
                    print(f"failed at image {i + 1}", flush=True)
                    raise
                elapsed = time.perf_counter() - started
                browser.close()
            stop.set()
            peak = rss_mb(proc.pid, "VmHWM")
        for name, value in phases:
            print(f"{value:8.0f} MB  {name}")
        print(f"{len(cases)} images x (Segment + Compare with {len(models)} models) in {elapsed:.0f} s")
        print(f"peak RSS of the app server (VmHWM): {peak:.0f} MB; highest sample {max(samples):.0f} MB; "
              f"goal <= 1536 MB: {'met' if peak <= 1536 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
