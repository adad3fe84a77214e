"""Segment an archive on a Dask cluster: the same work as `case_batches.segment_cases` (mask, quality
signals, estimate, storage), spread over the cluster's workers in chunks of cases.

Why Dask (distributed) and not Ray: measured on this machine (`bench/archive.py --images 400 --workers 1 2
--engine dask ray`, bench/results/archive.txt, one run, durable Postgres), both segment at the same rate
(Dask 8.9 / 15.8 images/s with 1 / 2 workers, Ray's actor pool 9.1 / 17.0) with the same memory (~1 GB a
worker, the model and torch), but a local Dask cluster is up in 1.4 s against Ray's 4.1-5.0 s, and
Dask adds 24 MB of pure-Python packages where Ray adds 240 MB. Its scheduler re-runs the tasks of a
worker that dies, the one fault this job must survive.

- Each task is a chunk of case numbers; the worker opens the store at its address (Postgres + a shared
  file folder on a real cluster; a SQLite folder on one machine) and runs `segment_cases` on those
  numbers: the local path's code, so the masks and figures are the same, bit for bit.
- Each worker process keeps the model it loaded (`_MODELS`), as Ray's actors would hold it.
- A worker killed mid-chunk: the scheduler runs the chunk again on another worker; the cases that worker
  had stored are skipped (`set_segmentation(only_if_new=True)`), so nothing is stored twice and nothing is
  lost.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..people.access_control import User, require
from .case_batches import segment_cases
from .corrections_store import open_store
from .worklist import Worklist

CHUNK = 8
_MODELS: dict[str, Any] = {}


def _model(name: str) -> Any:
    """The worker process's copy of the model (loaded once per process)."""
    if name not in _MODELS:
        import torch

        from ..models.model_loading import load_model

        torch.set_num_threads(1)  # one worker per core
        _MODELS[name] = load_model(name)
    return _MODELS[name]


def segment_chunk(address: str, model_name: str, actor: User, numbers: list[int]) -> dict[str, Any]:
    """Body of one task (runs on a worker): segment these cases of the store at `address`."""
    summary = segment_cases(Worklist(open_store(address)), _model(model_name), actor, numbers=numbers)
    return {"numbers": numbers, "done": summary["done"], "skipped": summary["skipped"],
            "failed": summary["failed"]}


def segment_on_cluster(address: str, cluster: str, model_name: str, actor: User,
                       should_stop: Callable[[], bool] | None = None,
                       on_progress: Callable[[dict[str, Any]], None] | None = None,
                       chunk: int = CHUNK) -> dict[str, Any]:
    """Segment the store's cases without a mask on the Dask scheduler at `cluster` (tcp://host:8786)."""
    from distributed import Client, as_completed

    require(actor, "segment")
    worklist = Worklist(open_store(address))
    todo = [c.number for c in worklist.list_cases() if c.mask_hash is None]
    started = time.perf_counter()
    done, skipped, failed = 0, 0, []
    with Client(cluster, timeout=30) as client:
        futures = [client.submit(segment_chunk, address, model_name, actor, todo[i:i + chunk], pure=False,
                                 retries=1, key=f"lungseg-segment-{i}-{time.time_ns()}")
                   for i in range(0, len(todo), chunk)]
        stopped = False
        for future in as_completed(futures):
            result = future.result()
            done += result["done"]
            skipped += result["skipped"]
            failed += result["failed"]
            if on_progress:
                on_progress({"done": done, "total": len(todo), "failed": len(failed),
                             "per_second": done / max(1e-9, time.perf_counter() - started)})
            if not stopped and should_stop is not None and should_stop():
                stopped = True
                client.cancel([f for f in futures if not f.done()])
                break
    return {"done": done, "total": len(todo), "failed": failed, "skipped": skipped, "model": model_name,
            "seconds": time.perf_counter() - started, "stopped": stopped}
