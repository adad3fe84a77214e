"""A real PostgreSQL server (Debian's `postgresql` binaries) for tests, benches and `tools/run_cluster.sh`:
a fresh cluster in a folder, on a free loopback port, stopped afterwards. initdb refuses to run as root,
so as root the cluster belongs to Debian's `postgres` user."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

from .browser import free_port

USER = "lungseg"
DATABASE = "lungseg"


def postgres_bin() -> Path | None:
    """The folder of Debian's server binaries (initdb, pg_ctl, postgres), newest version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]), reverse=True)
    return Path(found[0]).parent if found else None


def postgres_available() -> bool:
    return postgres_bin() is not None


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres_server(folder: Path, password: str | None = None, timeout: float = 60.0,
                    durable: bool = False) -> Iterator[str]:
    """Yield `postgresql://lungseg[:password]@127.0.0.1:PORT/lungseg` of a fresh server, C collation (the
    order SQLite compares text in). Without a password, loopback connections are trusted (tests); with
    one, they need it (scram-sha-256). Tests run without fsync (`durable=False`); benches and
    tools/run_cluster.sh keep Postgres's durable defaults."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server is not installed (Debian package postgresql)")
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # the postgres user must reach the folder: pytest's own tmp folders are root's alone
        folder = Path(tempfile.mkdtemp(prefix="lungseg-postgres-"))
        shutil.chown(folder, "postgres")
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(sockets, "postgres")
    pwfile = folder / "pw"
    auth = "trust"
    if password:
        pwfile.write_text(password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres")
        auth = "scram-sha-256"
    subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-E", "UTF8", "--locale=C",
                              f"--auth={auth}", *([f"--pwfile={pwfile}"] if password else [])]),
                   check=True, capture_output=True)
    pwfile.unlink(missing_ok=True)
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log.txt"),
                              "-w", "-t", str(int(timeout)), "start"]), check=True, capture_output=True)
    try:
        secret = f":{password}" if password else ""
        admin = f"postgresql://{USER}{secret}@127.0.0.1:{port}/postgres"
        _wait_and_create(admin, timeout)
        yield f"postgresql://{USER}{secret}@127.0.0.1:{port}/{DATABASE}"
    finally:
        subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        if os.geteuid() == 0:
            shutil.rmtree(folder, ignore_errors=True)


def _wait_and_create(admin_url: str, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as con:
                con.execute(f"CREATE DATABASE {DATABASE}")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def fresh_schema_url(server_url: str) -> str:
    """A URL of the server whose tables live in a new, empty schema: one store per test, without the cost
    of a database each."""
    import psycopg

    name = "s_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {name}")
    return f"{server_url}?options=-csearch_path%3D{name}"
