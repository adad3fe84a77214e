"""Background jobs' heartbeats in the store's database: a job process renews its row every few seconds,
and any app server, on any host, tells a running job from a dead one by how fresh that row is (a
process id means nothing on another host). The job's lock, progress and log stay in its folder
(`jobs`); this table only answers "is it alive?"."""
from __future__ import annotations

import os
import socket
import time
from typing import Any

from .database import Database


def beat_in(con: Any, job_id: str, kind: str, pid: int | None = None) -> None:
    con.execute("INSERT INTO job_beats (job_id, kind, host, pid, beat_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (job_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
                "beat_at = excluded.beat_at",
                (job_id, kind, socket.gethostname(), pid or os.getpid(), time.time()))


class JobBeats:
    def __init__(self, database: Database) -> None:
        self.database = database
        database.ensure_schema()

    def beat(self, job_id: str, kind: str, pid: int | None = None, con: Any = None) -> None:
        """Record that the job is alive now (the job process, and the server that starts it); on `con`
        when the caller is inside a write transaction already (a start and its audit entry commit
        together), else in a transaction of its own."""
        if con is not None:
            beat_in(con, job_id, kind, pid)
            return
        with self.database.transaction() as own:
            beat_in(own, job_id, kind, pid)

    def last_beat(self, job_id: str) -> float | None:
        """When the job last said it was alive (seconds since the epoch), None if it never did."""
        con = self.database.connect()
        try:
            row = con.execute("SELECT beat_at FROM job_beats WHERE job_id = ?", (job_id,)).fetchone()
        finally:
            con.close()
        return float(row[0]) if row else None

    def forget(self, job_id: str) -> None:
        """The job has ended (its lock released): its row goes."""
        with self.database.transaction() as con:
            con.execute("DELETE FROM job_beats WHERE job_id = ?", (job_id,))
