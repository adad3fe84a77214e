"""One job runner for every background job (retraining, batch segmentation, anything later): one job
of each kind at a time, in its own process, progress on disk, cancel, heartbeat.

A job writes `<jobs>/<id>/progress.json` (atomically) as it goes, so any page — even after a reload
or from another browser — can show it; a lock file per kind (`<jobs>/<lock name>`) names the running
job; a `cancel` file asks the job to stop at its next step.

The lock is only read or changed while holding `flock` on `<jobs>/.guard`, and written atomically
(temp file + rename): a reader never sees a half-written lock, a failed start removes its own lock,
and clearing a dead job's lock cannot remove a newer job's. On this host a job is alive while its
process is; a job of another host sharing the store is alive while its heartbeat is fresh. When a
job ends, its copies of patient images (`data/`) and intermediate weights (`out/`) are deleted.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ..errors import LungSegError
from .files import atomic_write, default_store_dir

ROOT = Path(__file__).resolve().parents[2]


class JobBusyError(LungSegError):
    """A job of that kind is already running."""


def jobs_dir() -> Path:
    return Path(os.environ.get("LUNGSEG_JOBS", default_store_dir() / "jobs"))


def pid_alive(pid: int) -> bool:
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
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(current)))


def read_progress(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job_dir / "progress.json").read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def guard(lock_name: str) -> Iterator[Path]:
    """Exclusive, short critical section over the lock file (released if the process dies)."""
    root = jobs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".guard", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield root / lock_name
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_lock(lock: Path) -> dict[str, Any] | None:
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
    if not job_alive(info, pid):
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


def job_alive(info: dict[str, Any], pid: int) -> bool:
    """On this host the process id answers; a job of another host sharing the store (whose process
    ids mean nothing here) is alive while its heartbeat is fresh."""
    if info.get("host", socket.gethostname()) == socket.gethostname():
        return pid_alive(pid)
    return time.time() - float(info.get("beat", 0.0)) < HEARTBEAT_STALE_S


def write_lock(lock: Path, info: dict[str, Any]) -> None:
    info = {**info, "host": socket.gethostname(), "beat": time.time()}
    atomic_write(lock, lambda tmp: Path(tmp).write_text(json.dumps(info)))


def beat(job_dir: Path, lock_name: str) -> bool:
    """Renew the heartbeat of the lock if it still names `job_dir`; False once it does not."""
    with guard(lock_name) as lock:
        try:
            info = json.loads(lock.read_text())
        except (OSError, ValueError):
            return False
        if info.get("dir") != str(job_dir):
            return False
        write_lock(lock, info)
        return True


def keep_beating(job_dir: Path, lock_name: str) -> None:
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


def active_job(lock_name: str) -> dict[str, Any] | None:
    """The running job ({id, pid, dir, ...}) or None; a stale lock of a dead process is cleared."""
    with guard(lock_name) as lock:
        return read_lock(lock)


def acquire(info: dict[str, Any], lock_name: str, what: str) -> None:
    with guard(lock_name) as lock:
        if read_lock(lock) is not None:
            raise JobBusyError(f"{what} is already running; wait for it or cancel it.")
        write_lock(lock, info)


def release(job_dir: Path, lock_name: str) -> None:
    """Remove the lock if (and only if) it still names this job."""
    with guard(lock_name) as lock:
        try:
            if json.loads(lock.read_text()).get("dir") == str(job_dir):
                lock.unlink()
        except (OSError, ValueError):
            pass


def claim_lock_for_process(job_dir: Path, lock_name: str, what: str, page: str) -> None:
    """Called by the job process: take over the lock the app took for it (with our pid), or take a
    free lock when run by hand from the CLI; JobBusyError if another job runs."""
    with guard(lock_name) as lock:
        current = read_lock(lock)
        if current is not None and current.get("dir") != str(job_dir):
            raise JobBusyError(f"{what} is already running (job {current.get('id')}); wait for it or "
                               f"cancel it on the {page} page.")
        info = {**(current or {"id": job_dir.name, "dir": str(job_dir), "started": time.time()}), "pid": os.getpid()}
        write_lock(lock, info)
    keep_beating(job_dir, lock_name)


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
              lock_name: str, what: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Take the lock (held by this live server process until the job process takes it over), start
    `cmd` detached with its log in the job folder, and hand the lock to it. A failed start never
    leaves a lock behind. Shared by retraining and batch segmentation."""
    acquire(info, lock_name, what)
    try:
        job_dir.mkdir()
        write_progress(job_dir, **first_progress)
        with open(job_dir / "log.txt", "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    except BaseException:
        release(job_dir, lock_name)
        if job_dir.is_dir():
            write_progress(job_dir, state="failed", message="the job could not be started")
        raise
    info["pid"] = proc.pid
    with guard(lock_name) as lock:  # hand the lock to the job, unless it has already finished and released it
        try:
            if json.loads(lock.read_text()).get("dir") == str(job_dir):
                write_lock(lock, info)
        except (OSError, ValueError):
            pass
    return info
