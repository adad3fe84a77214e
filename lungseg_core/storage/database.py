"""The store's database, whichever it is: a SQLite file (the built-in default, one machine) or a
Postgres server (several app servers). Both speak the same SQL through the same small interface
(`Database`: connect, a write transaction, the schema), so every module above writes its tables once.

`open_database(address)` reads an address: a `Database`, a `postgresql://` URL, or the path of a SQLite
file. `connect`, `transaction` and `ensure_schema` accept any of these, so a module holding a path keeps
working while the store moves to a server.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, Sequence

from .audit_chain import audit_row_hash  # noqa: F401 (re-exported)
from .postgres_database import PostgresDatabase, row_lock_clause  # noqa: F401 (re-exported)
from .sqlite_database import SCHEMA_VERSION, SQLiteDatabase, upgrade  # noqa: F401 (re-exported)
from .store_errors import StoreError, StoreFileError, storage_errors  # noqa: F401 (re-exported)


class Connection(Protocol):
    """What the store's modules use of a connection: `?`-placeholder SQL and close."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def close(self) -> None: ...


class Database(Protocol):
    """One store's database. `transaction()` serialises writers (SQLite: BEGIN IMMEDIATE; Postgres: an
    advisory lock), so a module's read-check-write steps never interleave with another's."""

    kind: str

    @property
    def address(self) -> str: ...
    def connect(self) -> Any: ...
    def transaction(self) -> AbstractContextManager[Any]: ...
    def ensure_schema(self) -> None: ...
    def schema_version(self) -> int: ...


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def open_database(address: Any) -> Database:
    """A `Database` from a Database, a postgresql:// URL or a SQLite file path."""
    if isinstance(address, (SQLiteDatabase, PostgresDatabase)):
        return address
    text = str(address)
    if is_postgres_url(text):
        return PostgresDatabase(text)
    return SQLiteDatabase(Path(text))


def connect(address: Any) -> Any:
    """A connection (autocommit: each statement its own transaction) to read with; close it after."""
    return open_database(address).connect()


def transaction(address: Any) -> AbstractContextManager[Any]:
    """`with transaction(db) as con:` one write transaction; ROLLBACK on any error."""
    return open_database(address).transaction()


def ensure_schema(address: Any) -> None:
    """Create or upgrade the schema (once per process and database)."""
    open_database(address).ensure_schema()
