"""Load: N annotators at once, through HAProxy onto 1 or 2 app servers over one Postgres (issue 25).

One Chromium drives every session (N browser contexts on Playwright's async API), not one browser per
session: the browsers' own cost no longer dominates the two cores. Each session signs in, then all at
once upload an X-ray of their own on Segment (timed to the overlay shown), open Correct, draw an erase
stroke and save (timed to "Saved version"): a burst of N; with --films F each session goes on to F films
in a row (sustained load, until --seconds). Prints p50/p95 of both, the peak RSS of each server, the
server CPU seconds used, and checks that every save is readable afterwards.

    .venv/bin/python bench/load.py --servers 1 2 --sessions 4 8 16 [--seconds 120] [--films 5]
    # appends to bench/results/load.txt
"""
from __future__ import annotations

import argparse
import contextlib
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lungseg_core.learning.dataset import read_manifest  # noqa: E402
from lungseg_core.people.access_control import command_line_user  # noqa: E402
from lungseg_core.people.accounts import UserDirectory  # noqa: E402
from lungseg_core.workflow.corrections_store import open_store  # noqa: E402
from lungseg_testing.browser import rss_mb  # noqa: E402
from lungseg_testing.cluster import app_cluster  # noqa: E402

PASSWORD = "team load session"
TICK = os.sysconf("SC_CLK_TCK")
BROWSER_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


#: the erase brush's shortcut (Alt+2) lost: no effect within 30 s, or another tool again by the stroke
REVERTED: list[str] = []


async def erase_stroke(page, row: float) -> bool:  # type: ignore[no-untyped-def]
    """Drag an erase stroke across the canvas at `row` (a share of its height), once it has stopped
    moving; True once the figures count removed pixels."""
    canvas = page.locator("canvas.upper-canvas").first
    box = None
    for _ in range(40):
        again = await canvas.bounding_box()
        if again is not None and again == box:
            break
        box = again
        await page.wait_for_timeout(250)
    if box is None:
        return False
    before = await page.get_by_test_id("stMetric").filter(has_text="Pixels removed").inner_text()
    y = box["y"] + row * box["height"]
    await page.mouse.move(box["x"] + 0.15 * box["width"], y)
    await page.mouse.down()
    for k in range(12):
        await page.mouse.move(box["x"] + (0.15 + 0.06 * k) * box["width"], y)
    await page.mouse.up()
    for _ in range(240):  # up to 60 s: with 16 sessions on two cores a run can take 20 s and more
        await page.wait_for_timeout(250)
        now = await page.get_by_test_id("stMetric").filter(has_text="Pixels removed").inner_text()
        if now != before:
            return True
    return False


async def session(browser, url: str, user: str, images: list[Path], deadline: float, out: dict,  # type: ignore[no-untyped-def]
                  errors: list, films: int = 1) -> None:
    overlay_s: list[float] = []
    save_s: list[float] = []
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    step = "sign-in"  # what the session was doing, for its error
    page = None
    try:
        page = await context.new_page()
        page.set_default_timeout(120_000)
        await page.goto(url)
        await page.get_by_label("User name").fill(user)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_text("Signed in as").wait_for()
        nav = page.get_by_test_id("stSidebarNav")
        for image in images[:films]:  # a burst of 1 each by default; --films N: N in a row per session
            if time.time() > deadline:
                break
            step = f"film {len(overlay_s) + 1}: upload"
            await nav.get_by_text("Segment", exact=True).click()
            await page.get_by_text("Chest X-ray (PNG").wait_for()
            shown = page.get_by_test_id("stImage").locator("img")
            old_src = await shown.first.get_attribute("src") if await shown.count() else None
            start = time.perf_counter()
            for _ in range(3):  # a file chosen while the page re-draws the uploader can be dropped: choose again
                await page.locator("input[type=file]").first.set_input_files(str(image))
                try:
                    await page.get_by_text(image.name).first.wait_for(timeout=15_000)
                    break
                except Exception:
                    continue
            await page.wait_for_function(  # this film's overlay, not the one the page showed before
                """old => { const img = document.querySelector('[data-testid=stImage] img');
                            return img && img.src && img.src !== old && img.complete && img.naturalWidth > 0; }""",
                arg=old_src or "")
            await page.get_by_text("Share of image").first.wait_for()
            overlay_s.append(time.perf_counter() - start)
            step = f"film {len(overlay_s)}: open Correct, pick the erase brush"
            await nav.get_by_text("Correct", exact=True).click()
            await page.wait_for_function(
                """() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
                     .some(e => e.innerText.startsWith('On the canvas: '))""")
            await page.get_by_text("Current case:").first.click()  # focus on the page, not in a text box
            for attempt in range(4):  # the erase brush's shortcut; a press the page lost is counted, and pressed again
                await page.keyboard.press("Alt+2")
                try:
                    await page.wait_for_function(
                        """() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
                             .some(e => e.innerText.startsWith('On the canvas: Erase brush'))""", timeout=30_000)
                    break
                except Exception:
                    REVERTED.append(f"{user} film {len(overlay_s)}: Alt+2 showed no erase brush in 30 s")
                    await page.get_by_text("Current case:").first.click()
            step = f"film {len(overlay_s)}: stroke"
            for row in (0.5, 0.4, 0.6):
                tool = await page.get_by_test_id("stCaptionContainer").filter(has_text="On the canvas: ").first.inner_text()
                if "Erase brush" not in tool:  # the page lost the tool picked with Alt+2: say so, pick it again
                    REVERTED.append(f"{user} film {len(overlay_s)}: {tool[:40]!r}")
                    await page.keyboard.press("Alt+2")
                    await page.get_by_text("On the canvas: Erase brush").first.wait_for()  # a second row if a stroke landed while the page was re-drawn
                if await erase_stroke(page, row):
                    break
            else:
                raise RuntimeError("three strokes erased nothing")
            step = f"film {len(overlay_s)}: save"
            start = time.perf_counter()
            await page.get_by_role("button", name="Save correction").click()
            number = parse_qs(urlsplit(page.url).query).get("case", ["?"])[0]  # this case's message, not a stale toast
            await page.get_by_text(re.compile(rf"Saved version \d+ of case {number}\b")).first.wait_for()  # the edit made the save bar say "Unsaved"
            save_s.append(time.perf_counter() - start)
    except Exception as exc:  # reported, with what the page showed; the other sessions go on
        shot = Path(tempfile.gettempdir()) / f"load_{user}_{int(time.time())}.png"
        if page is not None:
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(shot))
        errors.append(f"{user} at {step}: {type(exc).__name__}: {str(exc)[:120]} (page: {shot.name})")
    finally:
        await context.close()
    out[user] = (overlay_s, save_s)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def drive(url: str, names: list[str], cases: list[Path], seconds: float, films: int = 1
                ) -> tuple[dict, list, float]:
    from playwright.async_api import async_playwright

    results: dict = {}
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        deadline = time.time() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(session(browser, url, name, cases[i::len(names)], deadline, results, errors, films)
                               for i, name in enumerate(names)))
        wall = time.perf_counter() - started
        await browser.close()
    return results, errors, wall


def run(servers: int, sessions: int, seconds: float, cases: list[Path], films: int = 1) -> str:
    with tempfile.TemporaryDirectory() as tmp, app_cluster(Path(tmp) / "cluster", servers=servers,
                                                             durable=True) as cluster:
        store = open_store(cluster.store_address)
        users = UserDirectory(store.database)
        names = [f"annotator{i + 1}" for i in range(sessions)]
        for name in names:
            users.add_user(command_line_user(), name, "annotator", PASSWORD, must_change_password=False)
        cpu_before = [cpu_s(pid) for pid in cluster.pids]
        results, errors, wall = asyncio.run(drive(cluster.url, names, cases, seconds, films))
        cpu = sum(cpu_s(pid) - before for pid, before in zip(cluster.pids, cpu_before))
        peaks = [rss_mb(pid, "VmHWM") for pid in cluster.pids]
        records = store.list_corrections()
        reverted = list(REVERTED)
        REVERTED.clear()
        unreadable = [r.id for r in records if store.file_problem(r) is not None]
    overlay = [v for o, _ in results.values() for v in o]
    save = [v for _, s in results.values() for v in s]
    return (f"{servers} server(s), {sessions} sessions, {wall:.0f} s: upload->overlay n={len(overlay)} "
            f"p50 {pct(overlay, 0.5):.2f} s p95 {pct(overlay, 0.95):.2f} s; save n={len(save)} p50 {pct(save, 0.5):.2f} s "
            f"p95 {pct(save, 0.95):.2f} s; server CPU {cpu:.0f} s ({cpu / max(1, len(overlay)):.2f} s per upload+save); "
            f"peak RSS per server {', '.join(f'{p:.0f}' for p in peaks)} MB; saves stored {len(records)}, "
            f"unreadable {len(unreadable)}; errors {len(errors)}; tool lost before a stroke {len(reverted)}"
            + "".join(f"\n    {e}" for e in errors[:3]) + "".join(f"\n    tool lost: {r}" for r in reverted[:3]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sessions", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--seconds", type=float, default=600, help="a session still working then stops")
    parser.add_argument("--films", type=int, default=1, help="films per session, one after the other (sustained)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cxr-lungs")
    args = parser.parse_args()
    cases = [c.image_path for c in read_manifest(args.data, "val")]
    lines = [f"# bench/load.py --servers {' '.join(map(str, args.servers))} --sessions "
             f"{' '.join(map(str, args.sessions))} --seconds {args.seconds:g} --films {args.films}; "
             f"{time.strftime('%Y-%m-%d')}; one "
             "Chromium, N contexts; HAProxy + Postgres; browsers, proxy, database and servers on the same 2 cores"]
    for servers in args.servers:
        for sessions in args.sessions:
            lines.append(run(servers, sessions, args.seconds, cases, args.films))
            print(lines[-1], flush=True)
    with open(ROOT / "bench" / "results" / "load.txt", "a") as fh:
        fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
