"""The one reading of where a store is. An address is a folder (or `sqlite:///folder`: the built-in
SQLite file and its files there) or `postgresql://user:password@host:port/name[?files=/shared/folder]`
(records in Postgres, files in that folder, else in $LUNGSEG_STORE / the project's store/ folder).

`--store` wins, then $LUNGSEG_STORE_URL, then $LUNGSEG_STORE, then the project's store/ folder. Job
processes get the address in their environment, never on their command line (a URL can carry a password,
and a command line is visible to every user of the machine)."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .database import Database, PostgresDatabase, SQLiteDatabase, is_postgres_url
from .files import default_store_dir, store_folder

ADDRESS_VARIABLE = "LUNGSEG_STORE_URL"


def store_address(given: str | Path | None = None) -> str:
    """The address to use: `given` (a --store argument), else the environment's, else the default folder."""
    return str(given or os.environ.get(ADDRESS_VARIABLE) or default_store_dir())


def database_of(address: str | Path) -> Database:
    text = str(address)
    if is_postgres_url(text):
        return PostgresDatabase(text)
    return SQLiteDatabase(store_folder(text) / "store.sqlite")


def files_of(address: str | Path) -> Path:
    """The folder of the store's files (blobs, site estimators)."""
    text = str(address)
    if is_postgres_url(text):
        files = dict(parse_qsl(urlsplit(text).query)).get("files")
        return Path(files) if files else default_store_dir()
    return store_folder(text)


def job_environment(address: str | Path) -> dict[str, str]:
    """What a job process needs in its environment to open this store."""
    return {ADDRESS_VARIABLE: str(address)}
