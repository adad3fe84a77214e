"""Start the app on 127.0.0.1 and drive it with Debian's chromium (browser tests and benchmarks)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("LUNGSEG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float, failure: str) -> None:
    """Until `url`/_stcore/health answers 200 (a Streamlit server, or a proxy in front of some);
    RuntimeError(failure) if the process exits or the time runs out."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.3)


@contextlib.contextmanager
def streamlit_app(env: dict[str, str] | None = None, timeout: float = 90.0, port: int | None = None,
                  extra_args: list[str] | None = None) -> Iterator[str]:
    """Run `streamlit run app.py` on a (free) loopback port; yields the base URL."""
    with streamlit_server(env, timeout, port, extra_args) as (url, _proc):
        yield url


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout: float = 90.0, port: int | None = None,
                     extra_args: list[str] | None = None,
                     log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """As streamlit_app, yielding (base URL, server process) for benchmarks that watch its memory."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", *(extra_args or [])]
    proc_env = {**os.environ, "HF_HUB_OFFLINE": "1", "MALLOC_ARENA_MAX": "2", **(env or {})}  # as tools/run_app.sh
    log = open(log_path or ROOT / ".streamlit-test.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout, f"streamlit did not start; see {log.name}")
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch_chromium(playwright):  # type: ignore[no-untyped-def]
    """Debian's chromium through Playwright (Playwright cannot download its own browser here)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def draw_erase_stroke(page, y: int, x_from: int, x_to: int, step: int = 20) -> dict:  # type: ignore[no-untyped-def]
    """On the Correct page: pick the erase brush, wait until the canvas stops moving, drag a
    horizontal stroke at canvas row `y` and wait until the figures count its removed pixels. Returns
    the canvas box the stroke was drawn in."""
    wait_until_idle(page)  # the canvas is re-rendered once the window's size is known
    pick_tool(page, "Erase brush")
    canvas = the_canvas(page)
    wait_until_idle(page)
    box = canvas.bounding_box()
    steady = 0
    for _ in range(60):  # elements above it can still move on a busy machine
        page.wait_for_timeout(200)
        again = canvas.bounding_box()
        steady = steady + 1 if again == box else 0
        box = again
        if steady >= 3:
            break
    x_to = min(x_to, int(box["width"]) - 4)  # the canvas is sized to the window
    removed = metric_value(page, "Pixels removed")  # not "0" after an earlier stroke on this case
    page.mouse.move(box["x"] + x_from, box["y"] + y)
    page.mouse.down()
    for x in range(x_from, x_to + 1, step):
        page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.up()
    wait_metric_change(page, "Pixels removed", removed)  # this stroke's run has drawn its figures
    return box


def the_canvas(page):  # type: ignore[no-untyped-def]
    """The editor's canvas element (the component stacks a background and a drawing canvas in one
    place; mouse events and screenshots go by position, so either one locates it)."""
    canvas = page.locator("canvas.upper-canvas").first  # Playwright's CSS reaches into the shadow root
    canvas.wait_for(state="visible")
    return canvas


def steady_box(page, locator, rounds: int = 3) -> dict:  # type: ignore[no-untyped-def]
    """The element's box once it has stopped moving (elements above it can still be arriving)."""
    box = locator.bounding_box()
    steady = 0
    for _ in range(60):
        page.wait_for_timeout(150)
        again = locator.bounding_box()
        steady = steady + 1 if again == box else 0
        box = again
        if steady >= rounds:
            break
    return box


def click_when_settled(page, locator) -> None:  # type: ignore[no-untyped-def]
    """Click once the script's run is over and the element has stopped moving. Clicked while a run
    is still re-drawing the page (just after a reload, say), the click can reach a node that is being
    replaced and do nothing: no run follows (seen once in a CI run and once in 18 runs under load).
    A person clicks a page that has settled; so does this."""
    wait_until_idle(page)
    steady_box(page, locator)
    locator.click()


def metric_value(page, label: str) -> str:  # type: ignore[no-untyped-def]
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue").inner_text().strip()


def wait_metric_change(page, label: str, before: str, timeout_ms: int = 60_000) -> str:  # type: ignore[no-untyped-def]
    """Wait until a figure on the page differs from `before`; returns the new text. On a timeout, say
    what the page showed instead (figures, notices, buttons) and keep a screenshot."""
    try:
        page.wait_for_function(
            """([label, b]) => { const m = [...document.querySelectorAll('[data-testid=stMetric]')]
                 .find(e => e.innerText.includes(label));
               const v = m && m.querySelector('[data-testid=stMetricValue]');
               return v && v.innerText.trim() !== b; }""", arg=[label, before], timeout=timeout_ms)
    except Exception as exc:
        raise AssertionError(f"{label!r} stayed {before!r}; {page_report(page)}") from exc
    return metric_value(page, label)


def page_report(page) -> str:  # type: ignore[no-untyped-def]
    """What the page shows now, for a failing wait: figures, captions, notices, radios (the checked
    option) and buttons (stale ones marked), the script's status, and a screenshot's path."""
    shot = Path(os.environ.get("TMPDIR", "/tmp")) / f"lungseg_page_{int(time.time() * 1000)}.png"
    with contextlib.suppress(Exception):
        page.screenshot(path=str(shot), full_page=True)
    seen = page.evaluate("""() => {
        const stale = e => !!e.closest('[data-stale=true]');
        const all = sel => [...document.querySelectorAll(sel)];
        return {metrics: all('[data-testid=stMetric]').map(e => e.innerText.split(String.fromCharCode(10)).join(' ')),
                captions: all('[data-testid=stCaptionContainer]').map(e => e.innerText.slice(0, 160)),
                notices: all('[data-testid=stAlert], [data-testid=stException]').map(e => e.innerText.slice(0, 160)),
                radios: all('[data-testid=stRadio]').map(r => r.innerText.split(String.fromCharCode(10))[0] + ': '
                          + r.querySelector('input:checked')?.closest('label')?.innerText + (stale(r) ? ' (stale)' : '')),
                buttons: all('button').filter(b => b.innerText.trim())
                          .map(b => b.innerText.trim() + (stale(b) ? ' (stale)' : '') + (b.disabled ? ' (off)' : '')),
                running: !!document.querySelector('[data-testid=stStatusWidget]')}; }""")
    return f"page: {seen}, url {page.url}, screenshot {shot}"


def live_option(page, radio: str, option: str):  # type: ignore[no-untyped-def]
    """The `option` of the radio labelled `radio`, on the live page. While a run re-renders, the
    outgoing radio can still be on the page (marked stale): wait until one live radio has it."""
    live = page.locator("[data-testid=stElementContainer]:not([data-stale=true]) [data-testid=stRadio]")
    found = live.filter(has_text=radio).get_by_text(option, exact=True)
    for _ in range(300):
        if found.count() == 1:
            break
        page.wait_for_timeout(100)
    return found


def pick_tool(page, tool: str) -> None:  # type: ignore[no-untyped-def]
    """On the Correct page: choose `tool` in the Tool radio and wait until the canvas draws with it."""
    live_option(page, "Tool", tool).click()
    wait_for_tool(page, tool)


def wait_for_tool(page, tool: str, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """On the Correct page: until the canvas draws with `tool`. The caption that says so is drawn after
    the canvas in the same run, so once it shows, a stroke uses the tool (waiting for the page to look
    idle is not enough: a short run can end before Streamlit shows that it is running)."""
    wait_for_canvas_caption(page, tool, "", timeout_ms)


def pick_mask_style(page, style: str, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """On the Correct page: show the mask as `style` (Fill, Outline, Hidden) and wait until the canvas
    is drawn so (the caption under it says so, in the same run)."""
    live_option(page, "Mask", style).click()
    wait_for_mask_style(page, style, timeout_ms)


def wait_for_mask_style(page, style: str, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """On the Correct page: until the canvas is drawn with the mask shown as `style`."""
    wait_for_canvas_caption(page, "", " · mask: " + style.lower(), timeout_ms)


def wait_for_canvas_caption(page, tool: str, part: str, timeout_ms: int) -> None:  # type: ignore[no-untyped-def]
    """Until the caption under the canvas ("On the canvas: <tool>, … · mask: <style>") starts with
    `tool` and holds `part`; on a timeout, say what the page showed instead."""
    try:
        page.wait_for_function(
            """([tool, part]) => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
                 .some(e => e.innerText.startsWith('On the canvas: ' + tool) && e.innerText.includes(part))""",
            arg=[tool, part], timeout=timeout_ms)
    except Exception as exc:
        raise AssertionError(f"the canvas never drew with {tool + part!r}; {page_report(page)}") from exc
    wait_until_idle(page)


def working_copy_steps(store_dir: Path) -> int:
    """Edit steps held in the store's working copies (one per applied canvas object; 0 when none)."""
    from lungseg_core.workflow.corrections_store import open_store

    with contextlib.closing(open_store(str(store_dir)).database.connect()) as con:
        return int(con.execute("SELECT COALESCE(SUM(steps), 0) FROM working_copies").fetchone()[0])


def wait_until_idle(page, timeout_ms: int = 120_000) -> None:  # type: ignore[no-untyped-def]
    """Until the script run is over: no "running" status and no stale elements left on the page."""
    page.wait_for_timeout(150)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]') && "
                           "!document.querySelector('[data-stale=true]')", timeout=timeout_ms)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process in MB (VmHWM: its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


BENCH_USER, BENCH_PASSWORD = "bench-admin", "measures only, never people"


def sign_in_for_bench(page, url: str, store_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Give the benchmark an admin account in the (temporary) store it serves, and sign in."""
    from lungseg_core.people.access_control import command_line_user
    from lungseg_core.people.accounts import UserDirectory

    users = UserDirectory(Path(store_dir) / "store.sqlite")
    if users.get(BENCH_USER) is None:
        users.add_user(command_line_user(), BENCH_USER, "annotator,reviewer,admin", BENCH_PASSWORD,
                       must_change_password=False)
    page.goto(url)
    page.get_by_label("User name").fill(BENCH_USER)
    page.get_by_label("Password", exact=True).fill(BENCH_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for()
    page.wait_for_function("document.cookie.includes('lungseg_session=')")


def hole_centres(n: int, spacing: float = 40.0) -> list[tuple[int, int]]:
    """n points (image px) well inside the first sample's lungs, at least `spacing` apart, so that each
    erased hole is its own region and one click fixes one hole."""
    import cv2
    import numpy as np
    from PIL import Image

    from lungseg_core.models.samples import list_samples

    mask = np.asarray(Image.open(list_samples()[0].mask_path).convert("L")) > 127
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.nonzero(inside > 18)
    order = np.random.default_rng(0).permutation(len(xs))
    picked: list[tuple[int, int]] = []
    for i in order:
        p = (int(xs[i]), int(ys[i]))
        if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 >= spacing ** 2 for q in picked):
            picked.append(p)
        if len(picked) == n:
            break
    return picked
