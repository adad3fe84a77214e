"""The outgrown configuration on one machine, for tests, benches and `tools/run_cluster.sh`: one Postgres,
one shared file folder, N Streamlit servers, and HAProxy in front (sticky by a cookie it inserts, so a
browser's websocket always reaches the server that holds its Streamlit session; websockets pass through
HAProxy's http mode as tunnels)."""
from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .browser import free_port, streamlit_server, wait_healthy
from .postgres import postgres_server

HAPROXY = "/usr/sbin/haproxy"
SERVER_COOKIE = "LUNGSEG_SERVER"


@dataclass(frozen=True)
class Cluster:
    url: str  # the proxy: what browsers open
    servers: tuple[str, ...]  # each app server's own URL
    server_names: tuple[str, ...]  # the cookie value that pins a browser to each server
    store_address: str  # postgresql://…?files=… (what every server and job opens)
    pids: tuple[int, ...]


def haproxy_config(port: int, servers: list[str]) -> str:
    lines = ["global", "    maxconn 1024", "defaults", "    mode http", "    timeout connect 5s",
             "    timeout client 300s", "    timeout server 300s", "    timeout tunnel 3600s",
             "frontend lungseg", f"    bind 127.0.0.1:{port}", "    default_backend apps",
             "backend apps", "    balance roundrobin",
             f"    cookie {SERVER_COOKIE} insert indirect nocache httponly", "    option httpchk GET /_stcore/health"]
    for i, url in enumerate(servers, 1):
        lines.append(f"    server app{i} {url.removeprefix('http://')} check cookie app{i}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def app_cluster(folder: Path, servers: int = 2, password: str | None = None,
                env: dict[str, str] | None = None, timeout: float = 120.0, durable: bool = False) -> Iterator[Cluster]:
    """Start Postgres, `servers` app servers on one store and HAProxy; stop them all afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    files = folder / "files"
    with postgres_server(folder / "postgres", password=password, durable=durable) as database_url, contextlib.ExitStack() as stack:
        address = f"{database_url}?files={files}"
        common = {"LUNGSEG_STORE_URL": address, "LUNGSEG_STORE": str(files), "LUNGSEG_JOBS": str(files / "jobs"),
                  "LUNGSEG_MODELS": str(files / "models"),
                  **(env or {})}
        from lungseg_core.workflow.corrections_store import open_store

        open_store(address)  # the schema, made once before the servers race to make it
        started = [stack.enter_context(streamlit_server(common, timeout=timeout, log_path=folder / f"app{i}.log"))
                   for i in range(1, servers + 1)]
        port = free_port()
        config = folder / "haproxy.cfg"
        config.write_text(haproxy_config(port, [url for url, _ in started]))
        log = stack.enter_context(open(folder / "haproxy.log", "w"))
        proxy = subprocess.Popen([HAPROXY, "-f", str(config), "-db"], stdout=log, stderr=subprocess.STDOUT)
        stack.callback(_stop, proxy)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proxy, timeout, f"HAProxy did not start; see {folder / 'haproxy.log'}")
        yield Cluster(url, tuple(u for u, _ in started), tuple(f"app{i}" for i in range(1, servers + 1)), address,
                      tuple(p.pid for _, p in started))


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
