"""Retraining as a background job, on the one job runner (`storage.jobs`): its lock is
`<jobs>/active.json`; the job process runs `retrain` and, when the gate has spoken, refits the
worklist's estimate on the site's corrections. The job process imports torch, the models and the
worklist inside its functions: the page that only reads a job's progress never loads them.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..people.access_control import User
from ..people.audit import AuditLog, record
from ..storage.store_address import database_of
from ..storage.jobs import (HEARTBEAT_STALE_S, JobBusyError, acquire, beat as beat_lock,  # noqa: F401 (re-exported)
                            claim_lock_for_process, clean_job_folder, jobs_dir, latest_job, new_job_dir, pid_alive,
                            read_lock, read_progress, release, guard, spawn_job, still_running, write_progress)

#: The retraining job's lock file (one retrain at a time; batch segmentation has its own).
RETRAIN_LOCK = "active.json"
WHAT = "A retraining job"


def active_job(lock_name: str = RETRAIN_LOCK, address: str | None = None) -> dict[str, Any] | None:
    """The running retrain ({id, pid, dir, ...}) or None; a stale lock of a dead job is cleared. `address`:
    the store whose database holds the heartbeats (what every server agrees on)."""
    with guard(lock_name) as lock:
        return read_lock(lock, address)


def beat(job_dir: Path, lock_name: str = RETRAIN_LOCK) -> bool:
    return beat_lock(job_dir, lock_name)


def start_job(base: str, address: str, data_dir: Path | None, epochs: int | None = None, size: int | None = None,
              extra_args: list[str] | None = None, *, actor: User) -> dict[str, Any]:
    """Spawn `python -m lungseg_core retrain ...` detached (admin only); refuse if one is running."""
    job_dir = new_job_dir(jobs_dir())
    info = {"id": job_dir.name, "pid": os.getpid(), "dir": str(job_dir), "base": base, "started": time.time(),
            "started_by": actor.username}
    cmd = [sys.executable, "-m", "lungseg_core", "retrain", "--base", base, "--store-from-environment",
           *(["--epochs", str(epochs)] if epochs else []), "--job-dir", str(job_dir), "--started-by", actor.username]
    if data_dir is not None:
        cmd += ["--data", str(data_dir)]
    if size:
        cmd += ["--size", str(size)]
    cmd += extra_args or []
    with AuditLog(database_of(address)).change(actor, "retrain") as con:
        spawn_job(job_dir, cmd, info, {"state": "starting", "base": base, "epochs": epochs,
                                         "started_by": actor.username}, RETRAIN_LOCK, WHAT,
                  address=address, con=con)
        record(con, actor.username, "retrain_started", job_dir.name, {"base": base, "epochs": epochs})
    return info


def cancel_job(grace_s: float = 20.0, *, actor: User, audit_log: AuditLog, reason: str = "",
               address: str | None = None) -> bool:
    """Ask the running job to stop (admin only); if it has not stopped after grace_s and runs on this
    host, terminate it (a job on another host stops at its next step, or its heartbeat lapses)."""
    with audit_log.change(actor, "cancel_retrain") as con:
        info = active_job(address=address)
        if info is None:
            return False
        job_dir = Path(info["dir"])
        (job_dir / "cancel").touch()
        record(con, actor.username, "retrain_cancelled", info["id"], {"base": info.get("base")}, reason)
    deadline = time.time() + grace_s
    while time.time() < deadline and still_running(info, RETRAIN_LOCK, address):
        time.sleep(0.2)
    if info.get("host", socket.gethostname()) == socket.gethostname() and pid_alive(int(info["pid"])):
        os.killpg(int(info["pid"]), signal.SIGTERM)
        write_progress(job_dir, state="cancelled", message="terminated after the grace period")
        clean_job_folder(job_dir)
    active_job(address=address)  # clears the lock of the finished process
    return True


def run_job(job_dir: Path, base: str, address: str | None, data_dir: Path | None, epochs: int | None,
            size: int | None, max_steps: int | None = None, corrections_zip: Path | None = None,
            all_corrections_epochs: int | None = None) -> int:
    """Body of the job process (called by the CLI): trains, reports, releases the lock."""
    from ..workflow.corrections_store import open_store
    from .retraining import retrain, verdict
    from .training import TrainingCancelled

    cancel_flag = job_dir / "cancel"
    claim_lock_for_process(job_dir, RETRAIN_LOCK, WHAT, "Retrain", address)
    write_progress(job_dir, state="running", pid=os.getpid())
    try:
        store = open_store(address) if address is not None else None
        payload = corrections_zip.read_bytes() if corrections_zip is not None else None
        result = retrain(base, store, job_dir, base_data=data_dir, epochs=epochs, size=size, corrections_zip=payload,
                         all_corrections_epochs=all_corrections_epochs,
                         on_progress=lambda p: write_progress(job_dir, **p), should_stop=cancel_flag.exists,
                         max_steps=max_steps)
    except TrainingCancelled as exc:
        write_progress(job_dir, state="cancelled", message=str(exc))
        return 3
    except Exception as exc:  # reported on the page; the traceback is in log.txt
        write_progress(job_dir, state="failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        clean_job_folder(job_dir)
        release(job_dir, RETRAIN_LOCK, address)
    message = f"{result['name']} saved as a candidate; gate: {verdict(result['decision'])}"
    if store is not None:  # the worklist learns too: its estimate refit on the site's approved corrections
        from ..models.model_versions import default_model_name
        from ..people.access_control import command_line_user
        from ..workflow.site_quality import recalibrate
        from ..workflow.worklist import Worklist

        try:
            warm = recalibrate(Worklist(store), default_model_name(), command_line_user())
        except Exception as exc:  # noqa: BLE001 - the candidate stands; the estimate stays as it was
            warm, message = None, message + f"; worklist estimate not refit ({type(exc).__name__}: {exc})"
        if warm:
            message += (f"; worklist estimate refit on {warm['examples']} corrections "
                        f"(weighing {', '.join(warm['columns'])}), {warm['rescored']} open cases scored again")
    write_progress(job_dir, state="done", result={k: v for k, v in result.items() if k != "card"}, message=message)
    return 0
