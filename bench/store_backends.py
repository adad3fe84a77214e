"""The store's own cost on each database (issue 25): saves per second from 1 and 2 writer processes, Next
(claim the most urgent case) per second from 2 processes, and reading the worklist of 1,000 cases; SQLite
file vs a real Postgres on this machine (fsync on for both: `postgres_server` turns it off for tests, so
this bench starts its own with the defaults).

    .venv/bin/python bench/store_backends.py        # prints a table; one run (quote ratios)

Writes bench/results/store_backends.txt.
"""
from __future__ import annotations

import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lungseg_core.people.access_control import User  # noqa: E402
from lungseg_core.workflow.corrections_store import open_store  # noqa: E402
from lungseg_core.workflow.worklist import Worklist  # noqa: E402
from lungseg_testing.postgres import fresh_schema_url, postgres_server  # noqa: E402

SAVES = 150
CASES = 1000


def _saver(args: tuple[str, str, int]) -> float:
    address, who, n = args
    store = open_store(address)
    actor = User(who, frozenset({"annotator"}))
    rng = np.random.default_rng(abs(hash(who)) % 1000)
    started = time.perf_counter()
    for _ in range(n):
        image = rng.integers(0, 255, (64, 64)).astype(np.uint8)
        mask = rng.random((64, 64)) > 0.5
        store.save_correction(image, mask, ~mask, model_name="m", model_version="1", actor=actor)
    return time.perf_counter() - started


def _nexter(args: tuple[str, str, int]) -> float:
    address, who, n = args
    worklist = Worklist(open_store(address))
    actor = User(who, frozenset({"annotator"}))
    started = time.perf_counter()
    for _ in range(n):
        case = worklist.next_case(actor)
        assert case is not None  # each Next claims one more case (the one before stays held)
    return time.perf_counter() - started


def measure(address: str) -> dict[str, float]:
    out: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        seconds = pool.map(_saver, [(address, "solo", SAVES)])[0]
    out["saves/s, 1 writer"] = SAVES / seconds
    with ctx.Pool(2) as pool:
        started = time.perf_counter()
        pool.map(_saver, [(address, "alice", SAVES), (address, "bob", SAVES)])
        out["saves/s, 2 writers"] = 2 * SAVES / (time.perf_counter() - started)
    worklist = Worklist(open_store(address))
    admin = User("bench", frozenset({"admin"}))
    rng = np.random.default_rng(1)
    for _ in range(CASES - len(worklist.list_cases())):
        worklist.add_case(rng.integers(0, 255, (32, 32)).astype(np.uint8), admin)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        worklist.list_cases()
        times.append(time.perf_counter() - started)
    out[f"list {CASES} cases, ms (median of 5)"] = 1000 * statistics.median(times)
    with ctx.Pool(2) as pool:
        started = time.perf_counter()
        pool.map(_nexter, [(address, "ann", 40), (address, "amy", 40)])
        out["Next/s, 2 processes"] = 80 / (time.perf_counter() - started)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = {"SQLite file": measure(str(Path(tmp) / "sqlite-store"))}
        with postgres_server(Path(tmp) / "pg", durable=True) as url:
            rows["Postgres (loopback)"] = measure(f"{fresh_schema_url(url)}&files={Path(tmp) / 'pg-files'}")
    names = list(next(iter(rows.values())))
    lines = [f"{'':<22}" + "".join(f"{n:>34}" for n in names)]
    for backend, figures in rows.items():
        lines.append(f"{backend:<22}" + "".join(f"{figures[n]:>34.3f}" for n in names))
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results" / "store_backends.txt"
    out.write_text(f"# bench/store_backends.py, {time.strftime('%Y-%m-%d')}, 2 cores, one run\n{text}\n")


if __name__ == "__main__":
    main()
