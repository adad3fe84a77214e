"""The store test suite runs against both databases: modules that say
`pytestmark = pytest.mark.usefixtures("store_backend")` run each test on SQLite and on a real Postgres
(conftest's `store_backend`), and make their stores with `new_store(folder)` and their databases with
`new_database(path)`. A test marked `sqlite_only` checks something only a SQLite file has (its pragmas,
a release fixture's file, a killed writer) and runs once."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lungseg_core.storage.database import PostgresDatabase, SQLiteDatabase
from lungseg_core.workflow.corrections_store import DatabaseCorrectionsStore, SQLiteCorrectionsStore, open_store
from lungseg_testing.postgres import fresh_schema_url


class Backend:
    """Makes stores and databases of one kind; the same folder or path gives the same store again."""

    def __init__(self, kind: str, server_url: str | None = None) -> None:
        self.kind = kind
        self.server_url = server_url
        self.urls: dict[str, str] = {}

    def _url(self, key: Path) -> str:
        name = str(Path(key).resolve())
        if name not in self.urls:
            assert self.server_url is not None
            self.urls[name] = fresh_schema_url(self.server_url)
        return self.urls[name]

    def store(self, root: str | Path) -> DatabaseCorrectionsStore:
        if self.kind == "sqlite":
            return SQLiteCorrectionsStore(root)
        Path(root).mkdir(parents=True, exist_ok=True)
        return open_store(self.address(root))  # type: ignore[return-value]

    def address(self, root: str | Path) -> str:
        """What `open_store` (or `--store`, `$LUNGSEG_STORE_URL`) takes for this store, for another process."""
        if self.kind == "sqlite":
            return str(root)
        return f"{self._url(Path(root))}&files={Path(root)}"

    def database(self, path: str | Path) -> Any:
        if self.kind == "sqlite":
            return SQLiteDatabase(path)
        return PostgresDatabase(self._url(Path(path)))


CURRENT: list[Backend] = [Backend("sqlite")]


def new_store(root: str | Path) -> DatabaseCorrectionsStore:
    """A store in `root` on this test's database (SQLite, or a fresh Postgres schema)."""
    return CURRENT[-1].store(root)


def new_database(path: str | Path) -> Any:
    """A database for `path` (a SQLite file there, or a fresh Postgres schema named by it)."""
    return CURRENT[-1].database(path)


def store_address(root: str | Path) -> str:
    """The address of the store in `root` on this test's database (for a subprocess, a server)."""
    return CURRENT[-1].address(root)


def backend_kind() -> str:
    return CURRENT[-1].kind


def app_uses_store(monkeypatch, root: str | Path) -> None:  # type: ignore[no-untyped-def]
    """Point the app (an AppTest, a job it starts) at the store in `root` on this test's database."""
    monkeypatch.setenv("LUNGSEG_STORE", str(root))
    monkeypatch.setenv("LUNGSEG_STORE_URL", store_address(root))
