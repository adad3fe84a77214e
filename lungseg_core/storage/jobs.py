"""One job runner for every background job (retraining, batch segmentation, anything later): one job
of each kind at a time, in its own process, progress on disk, cancel, heartbeat.

A job writes `<jobs>/<id>/progress.json` (atomically) as it goes, so any page — even after a reload
or from another browser — can show it; a lock file per kind (`<jobs>/<lock name>`) names the running
job; a `cancel` file asks the job to stop at its next step.

The lock is only read or changed while holding `flock` on `<jobs>/.guard`, and written atomically
(temp file + rename): a reader never sees a half-written lock, a failed start removes its own lock,
and clearing a dead job's lock cannot remove a newer job's. A job is alive while its heartbeat in the
store's database is fresh (`job_beats`: the same answer on every app server, on any host); a job on
this host whose process has ended is dead at once. Without a store address (a job run by hand with a
corrections zip), the lock file's own heartbeat and the process id decide, as before. When a job ends,
its copies of patient images (`data/`) and intermediate weights (`out/`) are deleted.
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
from .job_beats import JobBeats
from .store_address import database_of, job_environment

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


def beats_of(address: str | None) -> JobBeats | None:
    """The heartbeat table of the store at `address` (None: no store, or its database is unreachable now)."""
    if not address:
        return None
    try:
        return JobBeats(database_of(address))
    except Exception:  # noqa: BLE001 - a database that is down must not stop a page from showing the job
        return None


def read_lock(lock: Path, address: str | None = None) -> dict[str, Any] | None:
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
    if not job_alive(info, pid, beats_of(address) if info.get("beats") else None):
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


def job_alive(info: dict[str, Any], pid: int, beats: JobBeats | None = None) -> bool:
    """Alive while its heartbeat in the database is fresh (and, on this host, while its process runs);
    without one, the process id on this host and the lock file's heartbeat elsewhere."""
    here = info.get("host", socket.gethostname()) == socket.gethostname()
    if beats is not None:
        try:
            last = beats.last_beat(str(info.get("id")))
        except Exception:  # noqa: BLE001 - unreachable now: decide as without a database
            last = None
        if last is not None:
            return time.time() - last < HEARTBEAT_STALE_S and (not here or pid_alive(pid))
    if here:
        return pid_alive(pid)
    return time.time() - float(info.get("beat", 0.0)) < HEARTBEAT_STALE_S


def write_lock(lock: Path, info: dict[str, Any]) -> None:
    info = {**info, "host": socket.gethostname(), "beat": time.time()}
    atomic_write(lock, lambda tmp: Path(tmp).write_text(json.dumps(info)))


def beat(job_dir: Path, lock_name: str, address: str | None = None) -> bool:
    """Renew the heartbeat (the lock file's, and the database's when the job has a store) if the lock
    still names `job_dir`; False once it does not."""
    with guard(lock_name) as lock:
        try:
            info = json.loads(lock.read_text())
        except (OSError, ValueError):
            return False
        if info.get("dir") != str(job_dir):
            return False
        write_lock(lock, info)
    beats = beats_of(address) if info.get("beats") else None
    if beats is not None:
        beats.beat(str(info["id"]), lock_name)
    return True


def keep_beating(job_dir: Path, lock_name: str, address: str | None = None) -> None:
    """The job process's heartbeat thread (a daemon: it ends with the process)."""
    def run() -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            try:
                if not beat(job_dir, lock_name, address):
                    return
            except Exception:  # noqa: BLE001 - a full disk or a database away for a moment: the next beat
                continue

    threading.Thread(target=run, name="job-heartbeat", daemon=True).start()


def active_job(lock_name: str, address: str | None = None) -> dict[str, Any] | None:
    """The running job ({id, pid, dir, ...}) or None; a stale lock of a dead job is cleared. `address`:
    the store whose database holds the jobs' heartbeats."""
    with guard(lock_name) as lock:
        return read_lock(lock, address)


def acquire(info: dict[str, Any], lock_name: str, what: str, address: str | None = None, con: Any = None) -> None:
    """Take the lock of `lock_name` for the job `info` (JobBusyError if a live job holds it). `con`: the
    caller's open write transaction on the store, if any (the heartbeat row is written on it)."""
    with guard(lock_name) as lock:
        if read_lock(lock, address) is not None:
            raise JobBusyError(f"{what} is already running; wait for it or cancel it.")
        beats = beats_of(address)
        if beats is not None:  # alive from the start, whichever server asks
            beats.beat(str(info["id"]), lock_name, int(info.get("pid") or os.getpid()), con)
            info["beats"] = True
        write_lock(lock, info)


def release(job_dir: Path, lock_name: str, address: str | None = None) -> None:
    """Remove the lock if (and only if) it still names this job (and its heartbeat row)."""
    with guard(lock_name) as lock:
        try:
            info = json.loads(lock.read_text())
            if info.get("dir") == str(job_dir):
                lock.unlink()
                beats = beats_of(address) if info.get("beats") else None
                if beats is not None:
                    beats.forget(str(info.get("id")))
        except (OSError, ValueError):
            pass


def claim_lock_for_process(job_dir: Path, lock_name: str, what: str, page: str,
                           address: str | None = None) -> None:
    """Called by the job process: take over the lock the app took for it (with our pid), or take a
    free lock when run by hand from the CLI; JobBusyError if another job runs."""
    with guard(lock_name) as lock:
        current = read_lock(lock, address)
        if current is not None and current.get("dir") != str(job_dir):
            raise JobBusyError(f"{what} is already running (job {current.get('id')}); wait for it or "
                               f"cancel it on the {page} page.")
        info = {**(current or {"id": job_dir.name, "dir": str(job_dir), "started": time.time()}), "pid": os.getpid()}
        beats = beats_of(address)
        if beats is not None:
            beats.beat(str(info["id"]), lock_name)
            info["beats"] = True
        write_lock(lock, info)
    keep_beating(job_dir, lock_name, address)


def still_running(info: dict[str, Any], lock_name: str, address: str | None = None) -> bool:
    """Whether the job `info` names is still the live job of its lock (on any server: the heartbeat
    decides), for a cancel that waits for it to stop."""
    current = active_job(lock_name, address)
    return current is not None and current.get("id") == info.get("id")


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
              lock_name: str, what: str, address: str | None = None, con: Any = None) -> dict[str, Any]:
    """Take the lock (held by this live server process until the job process takes it over), start
    `cmd` detached with its log in the job folder, and hand the lock to it. A failed start never
    leaves a lock behind. Shared by retraining and batch segmentation."""
    acquire(info, lock_name, what, address, con)
    try:
        job_dir.mkdir()
        write_progress(job_dir, **first_progress)
        with open(job_dir / "log.txt", "w") as log:
            env = {**os.environ, "HF_HUB_OFFLINE": "1", **(job_environment(address) if address else {})}
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    env=env)
    except BaseException:
        # inside the caller's transaction (`con`), its heartbeat row goes with the rollback
        release(job_dir, lock_name, None if con is not None else address)
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
