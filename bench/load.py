"""Load: N concurrent browser sessions (default 8) on one server segment, correct and save for a few
minutes; prints p50/p95 of upload -> overlay shown and of save -> "Saved" shown, the server's peak
RSS, and checks that every save is readable afterwards.

Each session is a different annotator working on its own X-rays (val split), as a team would:
upload on Segment, open Correct, draw an erase stroke on the canvas, save.

    .venv/bin/python bench/load.py [--sessions 8] [--seconds 180]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lungseg_testing.browser import draw_erase_stroke, launch_chromium, rss_mb, streamlit_server  # noqa: E402
from lungseg_core.people.access_control import command_line_user  # noqa: E402
from lungseg_core.people.accounts import UserDirectory  # noqa: E402
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore  # noqa: E402
from lungseg_core.learning.dataset import read_manifest  # noqa: E402

PASSWORD = "team load session"


def session(url: str, user: str, images: list[Path], deadline: float, out: dict, errors: list,
            lost: list) -> None:
    from playwright.sync_api import sync_playwright

    overlay_s: list[float] = []
    save_s: list[float] = []
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(240_000)
            page.goto(url)
            page.get_by_label("User name").fill(user)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Signed in as").wait_for()
            nav = page.get_by_test_id("stSidebarNav")
            for image in images:
                if time.time() > deadline:
                    break
                nav.get_by_text("Segment", exact=True).click()
                page.get_by_text("Chest X-ray (PNG").wait_for()
                start = time.perf_counter()
                page.locator("input[type=file]").first.set_input_files(str(image))
                page.get_by_test_id("stImage").locator("img").first.wait_for(state="visible")
                page.get_by_text(image.name).first.wait_for()
                page.get_by_text("Share of image").first.wait_for()
                overlay_s.append(time.perf_counter() - start)
                nav.get_by_text("Correct", exact=True).click()
                draw_erase_stroke(page, 300, 100, 400, 30)
                start = time.perf_counter()
                page.get_by_role("button", name="Save correction").click()
                try:
                    page.get_by_text("Saved version").first.wait_for(timeout=30_000)
                except Exception:  # no "Saved" and no error after 30 s: the click was lost; click again, as a user would
                    lost.append(user)
                    page.get_by_role("button", name="Save correction").click()
                    page.get_by_text("Saved version").first.wait_for()
                save_s.append(time.perf_counter() - start)
            browser.close()
    except Exception as exc:  # reported, the other sessions go on
        errors.append(f"{user}: {type(exc).__name__}: {str(exc)[:200]}")
    out[user] = (overlay_s, save_s)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cxr-lungs")
    args = parser.parse_args()
    cases = [c.image_path for c in read_manifest(args.data, "val")]
    with tempfile.TemporaryDirectory() as tmp_name:
        store_dir = Path(tmp_name) / "store"
        users = UserDirectory(store_dir / "store.sqlite")
        names = [f"annotator{i + 1}" for i in range(args.sessions)]
        for name in names:
            users.add_user(command_line_user(), name, "annotator", PASSWORD, must_change_password=False)
        with streamlit_server(env={"LUNGSEG_STORE": str(store_dir)}) as (url, proc):
            samples: list[float] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    samples.append(rss_mb(proc.pid))
                    time.sleep(0.2)

            threading.Thread(target=watch, daemon=True).start()
            deadline = time.time() + args.seconds
            results: dict = {}
            errors: list[str] = []
            lost: list[str] = []
            threads = [threading.Thread(target=session, args=(url, name, cases[i::args.sessions], deadline, results,
                                                              errors, lost)) for i, name in enumerate(names)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
            stop.set()
            peak = rss_mb(proc.pid, "VmHWM")
        store = SQLiteCorrectionsStore(store_dir)
        records = store.list_corrections()
        unreadable = [r.id for r in records if store.file_problem(r) is not None]
    overlay = [v for o, _ in results.values() for v in o]
    save = [v for _, s in results.values() for v in s]
    print(f"{args.sessions} concurrent browser sessions for {wall:.0f} s on one server (2 cores, Chromium and the "
          f"server on the same machine)")
    print(f"upload -> overlay shown: n={len(overlay)}  p50 {pct(overlay, 0.5):.2f} s  p95 {pct(overlay, 0.95):.2f} s")
    print(f"save -> 'Saved' shown:   n={len(save)}  p50 {pct(save, 0.5):.2f} s  p95 {pct(save, 0.95):.2f} s")
    print(f"server peak RSS (VmHWM): {peak:.0f} MB (highest sample {max(samples):.0f} MB)")
    print(f"saves in the store: {len(records)} (sessions reported {len(save)}); unreadable: {len(unreadable)}")
    print(f"save clicks that did nothing (no message within 30 s; clicked again): {len(lost)}")
    print(f"errors: {len(errors)}" + "".join(f"\n  {e}" for e in errors))
    if statistics.mean([len(s) for _, s in results.values()] or [0]) == 0:
        return 1
    return 0 if not unreadable and len(records) >= len(save) else 1


if __name__ == "__main__":
    raise SystemExit(main())
