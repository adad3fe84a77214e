"""Local accounts: users with roles, argon2 password hashes, and sign-in sessions that expire.

Kept in the store's own database, so a backup of the store is a backup of who did what. Passwords
are hashed with argon2id (argon2-cffi, the library made for it; its defaults follow RFC 9106's
low-memory profile). A session is a random token given to the browser (as a cookie); only its
SHA-256 is stored, so a copy of the database cannot be used to sign in. Sessions end after
`SESSION_HOURS` (sliding: each use extends them) and at most `SESSION_MAX_DAYS` after sign-in
(absolute), at sign-out, when the account is disabled, its password is reset, or its owner changes
it (their other sessions end). Sign-in attempts are throttled (`sign_in_throttle`).

When a hospital signs people in through its identity provider (OpenID Connect), the provider
checks the password; the account here still says whether the person may come in and with which
roles (`identity_user`). A person is matched only by an e-mail address the provider says it
verified, and only onto an account made for the provider (no local password) under that address,
or one an admin linked to it (`link_identity`): never by provider user names or subject ids, which
anyone registering at a provider can choose.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import audit
from .access_control import ADMIN, User, parse_roles, require
from .sign_in_throttle import SHARED, SignInThrottle
from ..errors import LungSegError
from ..storage.database import Connection, Database, open_database

SESSION_HOURS = float(os.environ.get("LUNGSEG_SESSION_HOURS", "12"))
SESSION_MAX_DAYS = float(os.environ.get("LUNGSEG_SESSION_MAX_DAYS", "7"))
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{1,63}$")
_HASHER = PasswordHasher()
# Verifying against this when the user does not exist keeps "no such user" and "wrong password"
# equally slow, so sign-in timing does not reveal which user names exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccountError(LungSegError):
    """A user-management request that cannot be done as asked (the message says why)."""


class SignInError(LungSegError):
    """Sign-in refused; the message never says whether the user name exists."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise AccountError("the password must not contain the user name")


def one_time_password(username: str) -> str:
    """A random password an admin hands over, never containing the user name (which the strength
    check refuses)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        if username.strip().lower() not in candidate.lower():
            return candidate


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise AccountError("a user name is 2-64 characters: letters, digits and . _ @ + - (an e-mail address works)")
    return name


class UserDirectory:
    """Users, passwords and sessions of one store (`<store>/store.sqlite`)."""

    def __init__(self, database: Database | str | Path, throttle: SignInThrottle | None = None) -> None:
        self.database = open_database(database)
        self.throttle = throttle or SHARED
        self.database.ensure_schema()

    def _con(self) -> Connection:
        return self.database.connect()

    def _transaction(self) -> AbstractContextManager[Connection]:
        return self.database.transaction()

    @staticmethod
    def _user(row: tuple) -> User:
        return User(row[0], parse_roles(row[1]), display_name=row[2], active=bool(row[3]))

    # -- reading ---------------------------------------------------------------------------
    def count(self) -> int:
        con = self._con()
        try:
            return con.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        finally:
            con.close()

    def get(self, username: str) -> User | None:
        con = self._con()
        try:
            row = con.execute("SELECT username, roles, display_name, active FROM users WHERE username = ?",
                              (username.strip().lower(),)).fetchone()
        finally:
            con.close()
        return self._user(row) if row else None

    def list_users(self) -> list[User]:
        con = self._con()
        try:
            rows = con.execute("SELECT username, roles, display_name, active FROM users ORDER BY username").fetchall()
        finally:
            con.close()
        return [self._user(r) for r in rows]

    def must_change_password(self, username: str) -> bool:
        con = self._con()
        try:
            row = con.execute("SELECT must_change_password FROM users WHERE username = ?", (username,)).fetchone()
        finally:
            con.close()
        return bool(row and row[0])

    # -- user management (admin) -------------------------------------------------------------
    def create_first_admin(self, username: str, password: str, display_name: str = "",
                           must_change_password: bool = False) -> User:
        """The first-run screen (the admin chose the password there), or a start script that printed a
        one-time password (`must_change_password`): only while no account exists (checked inside the
        transaction)."""
        name = normalise_username(username)
        check_password_strength(password, name)
        with self._transaction() as con:
            if con.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
                raise AccountError("an admin already exists: sign in, or ask an admin for an account")
            self._insert(con, name, display_name, _HASHER.hash(password), frozenset({ADMIN}),
                         must_change=must_change_password)
            audit.record(con, name, "user_added", name, {"roles": [ADMIN], "first_admin": True})
        return User(name, frozenset({ADMIN}), display_name)

    def add_user(self, actor: User, username: str, roles: str | set[str] | frozenset[str], password: str | None,
                 display_name: str = "", must_change_password: bool = True) -> User:
        """A password of None makes an account for identity-provider sign-in only."""
        require(actor, "manage_users")
        name = normalise_username(username)
        role_set = parse_roles(roles)
        if password is not None:
            check_password_strength(password, name)
        with self._transaction() as con:
            require(actor, "manage_users", con)
            if con.execute("SELECT 1 FROM users WHERE username = ?", (name,)).fetchone():
                raise AccountError(f"a user {name!r} already exists")
            self._insert(con, name, display_name, _HASHER.hash(password) if password else None, role_set,
                         must_change=bool(password) and must_change_password)
            audit.record(con, actor.username, "user_added", name, {"roles": sorted(role_set)})
        return User(name, role_set, display_name)

    @staticmethod
    def _insert(con: Connection, name: str, display_name: str, password_hash: str | None,
                roles: frozenset[str], must_change: bool) -> None:
        con.execute("INSERT INTO users (username, display_name, password_hash, roles, active, must_change_password, "
                    "created_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                    (name, display_name.strip(), password_hash, ",".join(sorted(roles)), int(must_change),
                     _now().isoformat()))

    def _existing(self, con: Connection, username: str) -> tuple:
        row = con.execute("SELECT username, roles, display_name, active FROM users WHERE username = ?",
                          (username.strip().lower(),)).fetchone()
        if row is None:
            raise AccountError(f"no user {username!r}")
        return row

    def _other_active_admins(self, con: Connection, username: str) -> int:
        rows = con.execute("SELECT roles FROM users WHERE active = 1 AND username != ?", (username,)).fetchall()
        return sum(ADMIN in parse_roles(r[0]) for r in rows)

    def set_roles(self, actor: User, username: str, roles: str | set[str] | frozenset[str], reason: str = "") -> User:
        require(actor, "manage_users")
        role_set = parse_roles(roles)
        with self._transaction() as con:
            require(actor, "manage_users", con)
            row = self._existing(con, username)
            if ADMIN not in role_set and ADMIN in parse_roles(row[1]) and not self._other_active_admins(con, row[0]):
                raise AccountError("this is the last active admin: give another user the admin role first")
            con.execute("UPDATE users SET roles = ? WHERE username = ?", (",".join(sorted(role_set)), row[0]))
            audit.record(con, actor.username, "roles_changed", row[0],
                         {"from": sorted(parse_roles(row[1])), "to": sorted(role_set)}, reason)
        return self.get(row[0])  # type: ignore[return-value]

    def set_active(self, actor: User, username: str, active: bool, reason: str = "") -> User:
        require(actor, "manage_users")
        with self._transaction() as con:
            require(actor, "manage_users", con)
            row = self._existing(con, username)
            if not active and ADMIN in parse_roles(row[1]) and not self._other_active_admins(con, row[0]):
                raise AccountError("this is the last active admin: it cannot be disabled")
            con.execute("UPDATE users SET active = ? WHERE username = ?", (int(active), row[0]))
            if not active:
                con.execute("DELETE FROM auth_sessions WHERE username = ?", (row[0],))
            audit.record(con, actor.username, "user_enabled" if active else "user_disabled", row[0], reason=reason)
        return self.get(row[0])  # type: ignore[return-value]

    def reset_password(self, actor: User, username: str, new_password: str, reason: str = "") -> None:
        """Admin sets a one-time password; the user must choose a new one at the next sign-in."""
        require(actor, "manage_users")
        name = normalise_username(username)
        check_password_strength(new_password, name)
        with self._transaction() as con:
            require(actor, "manage_users", con)
            row = self._existing(con, name)
            con.execute("UPDATE users SET password_hash = ?, must_change_password = 1 WHERE username = ?",
                        (_HASHER.hash(new_password), row[0]))
            con.execute("DELETE FROM auth_sessions WHERE username = ?", (row[0],))
            audit.record(con, actor.username, "password_reset", row[0], reason=reason)

    def change_own_password(self, user: User, old_password: str, new_password: str,
                            current_token: str | None = None) -> None:
        """Every other session of this person ends (a password changed because it leaked must lock
        out whoever used it); the session `current_token` stays signed in."""
        check_password_strength(new_password, user.username)
        if old_password == new_password:
            raise AccountError("choose a password different from the old one")
        self._verify(user.username, old_password)
        with self._transaction() as con:
            con.execute("UPDATE users SET password_hash = ?, must_change_password = 0 WHERE username = ?",
                        (_HASHER.hash(new_password), user.username))
            ended = con.execute("DELETE FROM auth_sessions WHERE username = ? AND token_hash != ?",
                                (user.username, _token_hash(current_token) if current_token else "")).rowcount
            audit.record(con, user.username, "password_changed", user.username, {"other_sessions_ended": ended})

    def link_identity(self, actor: User, username: str, email: str, reason: str = "") -> None:
        """Let the identity-provider account with (verified) `email` sign in as `username` (admin
        only): the one way a provider account reaches an account that also has a local password."""
        require(actor, "manage_users")
        address = email.strip().lower()
        if "@" not in address:
            raise AccountError("give the e-mail address the identity provider verifies")
        with self._transaction() as con:
            require(actor, "manage_users", con)
            row = self._existing(con, username)
            other = con.execute("SELECT username FROM users WHERE identity_email = ? AND username != ?",
                                (address, row[0])).fetchone()
            if other:
                raise AccountError(f"{address} is already linked to {other[0]}")
            con.execute("UPDATE users SET identity_email = ? WHERE username = ?", (address, row[0]))
            audit.record(con, actor.username, "identity_linked", row[0], {"email": address}, reason)

    # -- sign-in and sessions -----------------------------------------------------------------
    def _verify(self, username: str, password: str) -> User:
        con = self._con()
        try:
            row = con.execute("SELECT username, roles, display_name, active, password_hash FROM users "
                              "WHERE username = ?", (username.strip().lower(),)).fetchone()
        finally:
            con.close()
        stored = row[4] if row and row[4] else _DUMMY_HASH
        try:
            ok = _HASHER.verify(stored, password) and row is not None and row[4] is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or not row[3]:  # type: ignore[index]
            raise SignInError("wrong user name or password, or the account is disabled")
        if _HASHER.check_needs_rehash(stored):
            con = self._con()
            try:
                con.execute("UPDATE users SET password_hash = ? WHERE username = ?", (_HASHER.hash(password), row[0]))
            finally:
                con.close()
        return self._user(row[:4])  # type: ignore[index]

    def sign_in(self, username: str, password: str, client: str | None = None) -> tuple[User, str]:
        """Check the password and open a session; returns the user and the session token. Throttled
        per user name and per `client` (address); a burst of failures is audited at its start and
        when the back-off begins, not once per attempt."""
        keys = self.throttle.keys(username, client)
        wait = self.throttle.retry_after(keys)
        if wait > 0:
            raise SignInError(f"too many failed sign-ins: wait {wait:.0f} s before trying again")
        with self.throttle.check_slot() as got:
            if not got:
                raise SignInError("the server is busy signing other people in: try again in a moment")
            wait = self.throttle.retry_after(keys)  # again: failures counted while this attempt queued
            if wait > 0:
                raise SignInError(f"too many failed sign-ins: wait {wait:.0f} s before trying again")
            try:
                user = self._verify(username, password)
            except SignInError:
                failures = self.throttle.failed(keys)
                name = username.strip().lower()[:64] or "?"
                if failures == 1 or failures == self.throttle.free_failures:
                    try:
                        with self._transaction() as con:
                            if failures == 1:
                                audit.record(con, name, "sign_in_failed", detail={"client": client or ""})
                            else:
                                audit.record(con, name, "sign_in_throttled",
                                             detail={"failures": failures, "client": client or ""})
                    except sqlite3.Error:
                        pass  # a full disk must not turn a refused sign-in into a crash
                raise
        self.throttle.succeeded(keys)
        return user, self._open_session(user, "password")

    def identity_user(self, claims: dict, trust_provider_emails: bool = False) -> User | None:
        """The account of a person the identity provider signed in, or None.

        Only a verified e-mail counts (`email_verified` true in the ID token, or
        `trust_provider_emails` for a provider that verifies every address itself). It reaches the
        account an admin linked to it, or an account made for the provider (no local password)
        whose user name is that address; never an account with a local password by name alone."""
        email = str(claims.get("email") or "").strip().lower()
        verified = claims.get("email_verified") is True or str(claims.get("email_verified")).lower() == "true"
        if not email or not (verified or trust_provider_emails):
            return None
        con = self._con()
        try:
            row = con.execute("SELECT username, roles, display_name, active FROM users WHERE identity_email = ?",
                              (email,)).fetchone()
            if row is None:
                row = con.execute("SELECT username, roles, display_name, active FROM users "
                                  "WHERE username = ? AND password_hash IS NULL", (email,)).fetchone()
        finally:
            con.close()
        user = self._user(row) if row else None
        return user if user is not None and user.active and user.roles else None

    def open_identity_session(self, user: User) -> str:
        return self._open_session(user, "identity provider")

    def _open_session(self, user: User, method: str) -> str:
        token = secrets.token_urlsafe(32)
        now = _now()
        with self._transaction() as con:
            con.execute("DELETE FROM auth_sessions WHERE expires_at < ?", (now.isoformat(),))
            con.execute("INSERT INTO auth_sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
                        (_token_hash(token), user.username, now.isoformat(),
                         (now + timedelta(hours=SESSION_HOURS)).isoformat()))
            audit.record(con, user.username, "sign_in", user.username, {"method": method})
        return token

    def session_user(self, token: str | None) -> User | None:
        """The user of a live session (extended by this use), or None if unknown, expired or disabled."""
        if not isinstance(token, str) or not token:
            return None
        now = _now()
        con = self._con()
        try:
            row = con.execute("SELECT u.username, u.roles, u.display_name, u.active, s.expires_at, s.created_at "
                              "FROM auth_sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ?",
                              (_token_hash(token),)).fetchone()
        finally:
            con.close()
        if row is None:
            return None
        hard_end = datetime.fromisoformat(row[5]) + timedelta(days=SESSION_MAX_DAYS)
        alive = row[4] >= now.isoformat() and now < hard_end and bool(row[3])
        extended = min(now + timedelta(hours=SESSION_HOURS), hard_end).isoformat()
        try:  # a full or read-only disk keeps the session (read-only), it just is not extended
            with self._transaction() as con:
                if alive:
                    con.execute("UPDATE auth_sessions SET expires_at = ? WHERE token_hash = ?",
                                (extended, _token_hash(token)))
                else:
                    con.execute("DELETE FROM auth_sessions WHERE token_hash = ?", (_token_hash(token),))
        except (sqlite3.Error, LungSegError):  # StoreError from a server database
            pass
        return self._user(row[:4]) if alive else None

    def sign_out(self, token: str | None) -> None:
        if not token:
            return
        with self._transaction() as con:
            row = con.execute("SELECT username FROM auth_sessions WHERE token_hash = ?",
                              (_token_hash(token),)).fetchone()
            con.execute("DELETE FROM auth_sessions WHERE token_hash = ?", (_token_hash(token),))
            if row:
                audit.record(con, row[0], "sign_out", row[0])
