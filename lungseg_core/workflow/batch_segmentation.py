"""The background job that segments the worklist's new cases (the work itself: `case_batches`; on a
cluster: `cluster_segmentation`).

Runs on the one job runner (`storage.jobs`): one job at a time (its own lock, so it can
run beside a retrain), in its own process, progress in `progress.json` that any page can read
after a reload, a `cancel` file checked between batches. Each case's mask and quality figures are
stored as soon as its batch is done, so a cancelled or crashed job resumes where it stopped: the
next run only takes cases that still have no mask.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


from ..people.access_control import User
from ..people.audit import AuditLog, record
from .case_batches import segment_cases
from .corrections_store import open_store
from ..storage.store_address import database_of
from ..storage.jobs import (JobBusyError, claim_lock_for_process, guard, jobs_dir, latest_job, new_job_dir,
                            read_lock, read_progress, release, spawn_job, still_running, write_progress)
from .worklist import Worklist

LOCK = "segment.json"
WHAT = "Batch segmentation"


def segment_jobs_dir() -> Path:
    return jobs_dir() / "segment"


def start_job(address: str, actor: User, model: str | None = None) -> dict[str, Any]:
    """Spawn `python -m lungseg_core segment-cases` detached on the store at `address`; refuse if one is
    running."""
    job_dir = new_job_dir(segment_jobs_dir())
    info = {"id": job_dir.name, "pid": os.getpid(), "dir": str(job_dir), "started": time.time(),
            "started_by": actor.username}
    cmd = [sys.executable, "-m", "lungseg_core", "segment-cases", "--job-dir", str(job_dir),
           "--started-by", actor.username] + (["--model", model] if model else [])
    with AuditLog(database_of(address)).change(actor, "segment") as con:
        spawn_job(job_dir, cmd, info, {"state": "starting", "started_by": actor.username, "done": 0, "total": 0},
                  LOCK, WHAT, address=address, con=con)
        record(con, actor.username, "segmentation_started", job_dir.name)
    return info


def running_job(address: str | None = None) -> dict[str, Any] | None:
    """The running batch segmentation or None (`address`: the store whose database holds the heartbeats)."""
    with guard(LOCK) as lock:
        return read_lock(lock, address)


def latest() -> dict[str, Any] | None:
    return latest_job(segment_jobs_dir())


def cancel(actor: User, address: str, grace_s: float = 20.0) -> bool:
    """Ask the running job to stop after its current batch (what is done stays done)."""
    with AuditLog(database_of(address)).change(actor, "segment") as con:
        info = running_job(address)
        if info is None:
            return False
        (Path(info["dir"]) / "cancel").touch()
        record(con, actor.username, "segmentation_cancelled", info["id"])
    deadline = time.time() + grace_s
    while time.time() < deadline and still_running(info, LOCK, address):
        time.sleep(0.2)
    running_job(address)  # clears the lock of the finished process
    return True


def run_job(job_dir: Path, address: str, model: str | None, actor: User) -> int:
    """Body of the job process (the CLI's `segment-cases --job-dir`)."""
    from ..models.model_loading import load_model
    from ..models.model_versions import default_model_name

    claim_lock_for_process(job_dir, LOCK, WHAT, "Worklist", address)
    write_progress(job_dir, state="running", pid=os.getpid())
    cancel_flag = job_dir / "cancel"
    try:
        cluster = os.environ.get("LUNGSEG_CLUSTER")
        if cluster:  # the archive's way: the cluster's workers segment, this process follows and cancels
            from .cluster_segmentation import segment_on_cluster

            summary = segment_on_cluster(address, cluster, model or default_model_name(), actor,
                                         should_stop=cancel_flag.exists,
                                         on_progress=lambda p: write_progress(job_dir, **p))
        else:
            seg = load_model(model or default_model_name())
            summary = segment_cases(Worklist(open_store(address)), seg, actor,
                                    should_stop=cancel_flag.exists, on_progress=lambda p: write_progress(job_dir, **p))
    except Exception as exc:
        write_progress(job_dir, state="failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        release(job_dir, LOCK, address)
    state = "cancelled" if summary["stopped"] else "done"
    write_progress(job_dir, state=state, done=summary["done"], total=summary["total"],
                   message=f"{summary['done']} of {summary['total']} cases segmented with {summary['model']}"
                           + (f"; {len(summary['failed'])} could not be read" if summary["failed"] else "")
                           + ("; cancelled (start again to continue)" if summary["stopped"] else ""))
    return 3 if summary["stopped"] else 0


__all__ = ["JobBusyError", "cancel", "latest", "read_progress", "run_job", "running_job", "segment_cases", "start_job"]
