"""The errors a store raises, and the one way a storage failure reaches a person (`storage_errors`: a
clear StoreError, never a traceback), whichever database and file system are underneath."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

from ..errors import LungSegError


class StoreError(LungSegError):
    """A store operation that cannot be done as asked (unknown id, bad status, …)."""


class StoreFileError(StoreError):
    """An image or mask file of a record is missing or damaged."""


@contextmanager
def storage_errors() -> Iterator[None]:
    """Disk full, database locked or unreadable: one clear error instead of a traceback. (The Postgres
    connection turns its own errors into StoreError where they happen: `postgres_database`.)"""
    try:
        yield
    except LungSegError:
        raise  # our own refusals (roles, workflow, claims) are already clear
    except sqlite3.OperationalError as exc:
        raise StoreError(f"the store's database could not be written ({exc}); try again in a moment") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the store's database is damaged or unreadable ({exc})") from exc
    except OSError as exc:
        raise StoreError(f"the store could not be written ({exc.strerror or exc})") from exc
