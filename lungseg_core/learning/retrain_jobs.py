"""Retraining as a background job: one at a time, in its own process, with progress on disk.

The job writes `<jobs>/<id>/progress.json` (atomically) after every step, so any page — even
after a reload or from another browser — can show it; `<jobs>/active.json` names the running
job and is the one-job-at-a-time lock for the app and the CLI alike; a `cancel` file asks the job
to stop, which it does at the next step without writing weights.

The lock is only read or changed while holding `flock` on `<jobs>/.guard`, and written atomically
(temp file + rename): a reader never sees a half-written lock, a failed start removes its own
lock, and clearing a dead job's lock cannot remove a newer job's. When a job ends, its copies of
patient images (`data/`) and its intermediate weights (`out/`) are deleted; log and progress stay.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ..people.access_control import User
from ..people.audit import AuditLog, record
from ..workflow.corrections_store import default_store_dir
from ..errors import LungSegError
from ..models.weights_store import _atomic_write

ROOT = Path(__file__).resolve().parents[2]


class JobBusyError(LungSegError):
    """A retraining job is already running."""


def jobs_dir() -> Path:
    return Path(os.environ.get("LUNGSEG_JOBS", default_store_dir() / "jobs"))


def _pid_alive(pid: int) -> bool:
    try:  # a job this server started and that has ended is reaped here (no defunct child is left behind)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: another server's or the command line's job
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def write_progress(job_dir: Path, **fields: Any) -> None:
    path = job_dir / "progress.json"
    current = read_progress(job_dir) or {}
    current.update(fields, updated=time.time())
    _atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(current)))


def read_progress(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return None


#: The lock file of each kind of job (one job of each kind at a time); batch segmentation has its own.
RETRAIN_LOCK = "active.json"


@contextlib.contextmanager
def _guard(lock_name: str = RETRAIN_LOCK) -> Iterator[Path]:
    """Exclusive, short critical section over the lock file (released if the process dies)."""
    root = jobs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".guard", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield root / lock_name
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_lock(lock: Path) -> dict[str, Any] | None:
    """The live job named by the lock, clearing it (inside the guard) if its process is gone or
    the file is unreadable (only a crash of an older release could leave one: writes are atomic)."""
    try:
        info = json.loads(lock.read_text())
        pid = int(info["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        lock.unlink(missing_ok=True)
        return None
    if not _job_alive(info, pid):
        progress = read_progress(Path(info.get("dir", "."))) or {}
        if info.get("dir") and progress.get("state") in (None, "running", "starting"):
            write_progress(Path(info["dir"]), state="failed", message="the job process ended unexpectedly")
        if info.get("dir"):
            clean_job_folder(Path(info["dir"]))
        lock.unlink(missing_ok=True)
        return None
    return info


#: A job renews its lock's heartbeat this often; a lock written on another host whose heartbeat is
#: older than HEARTBEAT_STALE_S belongs to a job that is gone.
HEARTBEAT_S = 10.0
HEARTBEAT_STALE_S = 60.0


def _job_alive(info: dict[str, Any], pid: int) -> bool:
    """On this host the process id answers; a job of another host sharing the store (whose process
    ids mean nothing here) is alive while its heartbeat is fresh."""
    if info.get("host", socket.gethostname()) == socket.gethostname():
        return _pid_alive(pid)
    return time.time() - float(info.get("beat", 0.0)) < HEARTBEAT_STALE_S


def _write_lock(lock: Path, info: dict[str, Any]) -> None:
    info = {**info, "host": socket.gethostname(), "beat": time.time()}
    _atomic_write(lock, lambda tmp: Path(tmp).write_text(json.dumps(info)))


def beat(job_dir: Path, lock_name: str = RETRAIN_LOCK) -> bool:
    """Renew the heartbeat of the lock if it still names `job_dir`; False once it does not."""
    with _guard(lock_name) as lock:
        try:
            info = json.loads(lock.read_text())
        except (OSError, ValueError):
            return False
        if info.get("dir") != str(job_dir):
            return False
        _write_lock(lock, info)
        return True


def _keep_beating(job_dir: Path, lock_name: str) -> None:
    """The job process's heartbeat thread (a daemon: it ends with the process)."""
    def run() -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            try:
                if not beat(job_dir, lock_name):
                    return
            except OSError:
                continue  # a full disk for a moment: try again at the next beat

    threading.Thread(target=run, name="job-heartbeat", daemon=True).start()


def active_job(lock_name: str = RETRAIN_LOCK) -> dict[str, Any] | None:
    """The running job ({id, pid, dir, ...}) or None; a stale lock of a dead process is cleared."""
    with _guard(lock_name) as lock:
        return _read_lock(lock)


def _acquire(info: dict[str, Any], lock_name: str = RETRAIN_LOCK, what: str = "A retraining job") -> None:
    with _guard(lock_name) as lock:
        if _read_lock(lock) is not None:
            raise JobBusyError(f"{what} is already running; wait for it or cancel it.")
        _write_lock(lock, info)


def _release(job_dir: Path, lock_name: str = RETRAIN_LOCK) -> None:
    """Remove the lock if (and only if) it still names this job."""
    with _guard(lock_name) as lock:
        try:
            if json.loads(lock.read_text()).get("dir") == str(job_dir):
                lock.unlink()
        except (OSError, ValueError):
            pass


def claim_lock_for_process(job_dir: Path, lock_name: str = RETRAIN_LOCK, what: str = "A retraining job",
                           page: str = "Retrain") -> None:
    """Called by the job process: take over the lock the app took for it (with our pid), or take a
    free lock when run by hand from the CLI; JobBusyError if another job runs."""
    with _guard(lock_name) as lock:
        current = _read_lock(lock)
        if current is not None and current.get("dir") != str(job_dir):
            raise JobBusyError(f"{what} is already running (job {current.get('id')}); wait for it or "
                               f"cancel it on the {page} page.")
        info = {**(current or {"id": job_dir.name, "dir": str(job_dir), "started": time.time()}), "pid": os.getpid()}
        _write_lock(lock, info)
    _keep_beating(job_dir, lock_name)


def clean_job_folder(job_dir: Path) -> None:
    """Delete the job's copies of patient images and intermediate weights; keep log and progress."""
    for name in ("data", "out"):
        shutil.rmtree(job_dir / name, ignore_errors=True)


def latest_job(root: Path | None = None) -> dict[str, Any] | None:
    """The most recent job's progress (running or finished), for the page to show."""
    root = root or jobs_dir()
    if not root.is_dir():
        return None
    dirs = sorted((d for d in root.iterdir() if (d / "progress.json").is_file()), key=lambda d: d.stat().st_mtime)
    if not dirs:
        return None
    progress = read_progress(dirs[-1]) or {}
    return {"id": dirs[-1].name, "dir": str(dirs[-1]), **progress}


def new_job_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return root / (time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])


def spawn_job(job_dir: Path, cmd: list[str], info: dict[str, Any], first_progress: dict[str, Any],
              lock_name: str = RETRAIN_LOCK, what: str = "A retraining job") -> dict[str, Any]:
    """Take the lock (held by this live server process until the job process takes it over), start
    `cmd` detached with its log in the job folder, and hand the lock to it. A failed start never
    leaves a lock behind. Shared by retraining and batch segmentation."""
    _acquire(info, lock_name, what)
    try:
        job_dir.mkdir()
        write_progress(job_dir, **first_progress)
        with open(job_dir / "log.txt", "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "HF_HUB_OFFLINE": "1"})
    except BaseException:
        _release(job_dir, lock_name)
        if job_dir.is_dir():
            write_progress(job_dir, state="failed", message="the job could not be started")
        raise
    info["pid"] = proc.pid
    with _guard(lock_name) as lock:  # hand the lock to the job, unless it has already finished and released it
        try:
            if json.loads(lock.read_text()).get("dir") == str(job_dir):
                _write_lock(lock, info)
        except (OSError, ValueError):
            pass
    return info


def start_job(base: str, store_path: Path, data_dir: Path | None, epochs: int = 4, size: int | None = None,
              extra_args: list[str] | None = None, *, actor: User) -> dict[str, Any]:
    """Spawn `python -m lungseg_core retrain ...` detached (admin only); refuse if one is running."""
    job_dir = new_job_dir(jobs_dir())
    info = {"id": job_dir.name, "pid": os.getpid(), "dir": str(job_dir), "base": base, "started": time.time(),
            "started_by": actor.username}
    cmd = [sys.executable, "-m", "lungseg_core", "retrain", "--base", base, "--store", str(store_path),
           "--epochs", str(epochs), "--job-dir", str(job_dir), "--started-by", actor.username]
    if data_dir is not None:
        cmd += ["--data", str(data_dir)]
    if size:
        cmd += ["--size", str(size)]
    cmd += extra_args or []
    with AuditLog(Path(store_path) / "store.sqlite").change(actor, "retrain") as con:
        spawn_job(job_dir, cmd, info, {"state": "starting", "base": base, "epochs": epochs, "started_by": actor.username})
        record(con, actor.username, "retrain_started", job_dir.name, {"base": base, "epochs": epochs})
    return info


def cancel_job(grace_s: float = 20.0, *, actor: User, audit_log: AuditLog, reason: str = "") -> bool:
    """Ask the running job to stop (admin only); if it has not stopped after grace_s, terminate it."""
    with audit_log.change(actor, "cancel_retrain") as con:
        info = active_job()
        if info is None:
            return False
        job_dir = Path(info["dir"])
        (job_dir / "cancel").touch()
        record(con, actor.username, "retrain_cancelled", info["id"], {"base": info.get("base")}, reason)
    deadline = time.time() + grace_s
    while time.time() < deadline and _pid_alive(int(info["pid"])):
        time.sleep(0.2)
    if _pid_alive(int(info["pid"])):
        os.killpg(int(info["pid"]), signal.SIGTERM)
        write_progress(job_dir, state="cancelled", message="terminated after the grace period")
        clean_job_folder(job_dir)
    active_job()  # clears the lock of the finished process
    return True


def run_job(job_dir: Path, base: str, store_path: Path | None, data_dir: Path | None, epochs: int | None,
            size: int | None, max_steps: int | None = None, corrections_zip: Path | None = None,
            all_corrections_epochs: int | None = None) -> int:
    """Body of the job process (called by the CLI): trains, reports, releases the lock."""
    from ..workflow.corrections_store import open_store
    from .retraining import retrain, verdict
    from .training import TrainingCancelled

    cancel_flag = job_dir / "cancel"
    claim_lock_for_process(job_dir)
    write_progress(job_dir, state="running", pid=os.getpid())
    try:
        store = open_store(store_path) if store_path is not None else None
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
        _release(job_dir)
    message = f"{result['name']} saved as a candidate; gate: {verdict(result['decision'])}"
    if store is not None:  # the worklist learns too: its estimate refit on the site's approved corrections
        from ..models.model_versions import default_model_name
        from ..people.access_control import command_line_user
        from ..workflow.site_quality import recalibrate
        from ..workflow.worklist import Worklist

        try:
            warm = recalibrate(Worklist(store), default_model_name(), command_line_user())  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the candidate stands; the estimate stays as it was
            warm, message = None, message + f"; worklist estimate not refit ({type(exc).__name__}: {exc})"
        if warm:
            message += (f"; worklist estimate refit on {warm['examples']} corrections, "
                        f"{warm['rescored']} open cases scored again")
    write_progress(job_dir, state="done", result={k: v for k, v in result.items() if k != "card"}, message=message)
    return 0
