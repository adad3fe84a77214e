"""Claims: who is editing an image right now, so that two people never edit it at once.

The first edit of an image (or taking it with Next) claims it for `CLAIM_MINUTES`, renewed with
every edit; merely looking at a case claims nothing, so browsing cannot lock the queue. Someone
else who opens it sees who holds it and until when, and the store refuses their save instead of
silently starting a second, unrelated "version 1". Leaving the case, Save and next and signing out
release it; a claim also lapses by itself when its holder walks away, and an admin can release
any claim from the Worklist.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..people import audit
from ..people.access_control import User, require
from .review_workflow import WorkflowError
from ..storage.database import Connection, Database, open_database, row_lock_clause

CLAIM_MINUTES = 30


class ClaimHeldError(WorkflowError):
    """Someone else is editing this image."""

    def __init__(self, claim: "Claim") -> None:
        super().__init__(f"{claim.username} is editing this X-ray (claimed until {claim.expires_at[11:16]} UTC); "
                         "open it again later or ask them to release it")
        self.claim = claim


def drop_claims_in(con: Connection, image_hash: str, username: str | None = None) -> None:
    """Inside the caller's transaction: the claim on an X-ray (anyone's, or only this person's)."""
    if username is None:
        con.execute("DELETE FROM claims WHERE image_hash = ?", (image_hash,))
    else:
        con.execute("DELETE FROM claims WHERE image_hash = ? AND username = ?", (image_hash, username))


@dataclass(frozen=True)
class Claim:
    image_hash: str
    username: str
    expires_at: str


def live_claim(con: Connection, image_hash: str, lock: str = "") -> Claim | None:
    """The claim on the X-ray if it has not lapsed; `lock` (row_lock_clause) locks its row first."""
    row = con.execute("SELECT image_hash, username, expires_at FROM claims WHERE image_hash = ?" + lock,
                      (image_hash,)).fetchone()
    if row is None or row[2] <= datetime.now(timezone.utc).isoformat():
        return None
    return Claim(*row)


def take_claim_in(con: Connection, kind: str, image_hash: str, username: str,
                  expires_at: str) -> tuple[bool, Claim | None]:
    """Inside the caller's transaction: claim the X-ray for `username` unless another person's claim is
    live. Returns (taken, the live claim found before: None when there was none). On Postgres this does
    not lean on the store's write lock: a new claim is an insert that waits on the unique key for any
    transaction inserting the same one, and an existing claim row is locked (FOR UPDATE) before it is
    read and taken over, so of two servers claiming at once exactly one gets it."""
    if con.execute("INSERT INTO claims (image_hash, username, expires_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(image_hash) DO NOTHING", (image_hash, username, expires_at)).rowcount:
        return True, None
    held = live_claim(con, image_hash, row_lock_clause(kind, skip_locked=False))
    if held is not None and held.username != username:
        return False, held
    con.execute("UPDATE claims SET username = ?, expires_at = ? WHERE image_hash = ?", (username, expires_at, image_hash))
    return True, held


def check_not_held_by_other(con: Connection, actor: User, image_hash: str) -> None:
    """Inside a write transaction: refuse when another person's claim is live."""
    claim = live_claim(con, image_hash)
    if claim is not None and claim.username != actor.username:
        raise ClaimHeldError(claim)


class Claims:
    def __init__(self, database: Database | str | Path) -> None:
        self.database = open_database(database)
        self.database.ensure_schema()

    def claim(self, actor: User, image_hash: str, minutes: float = CLAIM_MINUTES) -> Claim:
        """Take or renew the claim; raises ClaimHeldError if another person holds it. Atomic: of two
        people claiming together, exactly one gets it."""
        require(actor, "claim")
        expires = (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()
        with self.database.transaction() as con:
            require(actor, "claim", con)
            taken, held = take_claim_in(con, self.database.kind, image_hash, actor.username, expires)
            if not taken:
                raise ClaimHeldError(held)  # type: ignore[arg-type]
            if held is None:
                audit.record(con, actor.username, "claimed", image_hash[:12], {"minutes": minutes})
        return Claim(image_hash, actor.username, expires)

    def holder(self, image_hash: str) -> Claim | None:
        con = self.database.connect()
        try:
            return live_claim(con, image_hash)
        finally:
            con.close()

    def release(self, actor: User, image_hash: str) -> bool:
        """Give up one's own claim (a reviewer or admin may release anyone's); True if one was held."""
        with self.database.transaction() as con:
            claim = live_claim(con, image_hash)
            if claim is None:
                return False
            if claim.username != actor.username:
                require(actor, "reopen", con)
            con.execute("DELETE FROM claims WHERE image_hash = ?", (image_hash,))
            if claim.username != actor.username:
                audit.record(con, actor.username, "claim_released", image_hash[:12], {"holder": claim.username})
        return True

    def release_all(self, username: str) -> int:
        """Every claim of `username` (their sign-out); returns how many there were."""
        with self.database.transaction() as con:
            return con.execute("DELETE FROM claims WHERE username = ?", (username,)).rowcount

    def live(self) -> list[Claim]:
        """The claims held now, longest-held (soonest to lapse) first."""
        con = self.database.connect()
        try:
            rows = con.execute("SELECT image_hash, username, expires_at FROM claims WHERE expires_at > ? "
                               "ORDER BY expires_at", (datetime.now(timezone.utc).isoformat(),)).fetchall()
        finally:
            con.close()
        return [Claim(*r) for r in rows]
