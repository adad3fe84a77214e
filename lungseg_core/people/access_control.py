"""Who may do what: roles, the actions each allows, and the one check every change goes through.

Roles build on each other as a hospital team works: an annotator segments, corrects, saves and
submits; a reviewer also approves, rejects and reopens other people's work and exports it; an admin
also manages users, retrains, promotes, rolls back, deletes and reads the audit log. One person may
hold several roles. The checks live here and are called by `lungseg_core` itself (store, model
versions, retraining jobs), so hiding a button is never the only protection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import LungSegError

ANNOTATOR, REVIEWER, ADMIN = "annotator", "reviewer", "admin"
ROLES = (ANNOTATOR, REVIEWER, ADMIN)

_ANNOTATOR_ACTIONS = frozenset({"segment", "save_correction", "submit", "claim"})
_REVIEWER_ACTIONS = _ANNOTATOR_ACTIONS | {"approve", "reject", "reopen", "export"}
_ADMIN_ACTIONS = _REVIEWER_ACTIONS | {"manage_users", "retrain", "cancel_retrain", "promote", "rollback",
                                      "delete_case", "view_audit"}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    ANNOTATOR: _ANNOTATOR_ACTIONS, REVIEWER: frozenset(_REVIEWER_ACTIONS), ADMIN: frozenset(_ADMIN_ACTIONS)}
ACTIONS = tuple(sorted(_ADMIN_ACTIONS))

#: What the error says a user needs, in words.
_NEEDS = {action: next(role for role in ROLES if action in ROLE_ACTIONS[role]) for action in ACTIONS}


class PermissionDenied(LungSegError, PermissionError):
    """The signed-in user's roles do not allow the action; the message names the role needed."""


@dataclass(frozen=True)
class User:
    """A signed-in person (or the command line, for server-side tools)."""

    username: str
    roles: frozenset[str]
    display_name: str = ""
    active: bool = True

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def can(self, action: str) -> bool:
        if action not in _NEEDS:
            raise ValueError(f"unknown action {action!r}")
        return self.active and any(action in ROLE_ACTIONS.get(role, ()) for role in self.roles)


def parse_roles(roles: str | Iterable[str]) -> frozenset[str]:
    """'annotator,reviewer' or an iterable → a validated set; unknown roles raise a clear error."""
    items = [r.strip().lower() for r in (roles.split(",") if isinstance(roles, str) else roles) if r.strip()]
    unknown = sorted(set(items) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; valid: {', '.join(ROLES)}")
    return frozenset(items)


def require(user: User | None, action: str, con: Any = None) -> User:
    """Return `user` if it may do `action`, else raise PermissionDenied with what is missing.

    With `con` (a connection to the store's database, ideally inside the change's own transaction)
    the account's roles and state are read again from the store, so a `User` object kept by a
    page, a fragment or a job since before its account was disabled or its roles cut acts with
    what the account holds now. Names with no account (the command line, server-side tools) act
    with the roles given."""
    if user is not None and con is not None:
        user = current_account(con, user)
    if user is None:
        raise PermissionDenied(f"sign in to {action.replace('_', ' ')}")
    if not user.active:
        raise PermissionDenied(f"the account {user.username!r} is disabled")
    if not user.can(action):
        raise PermissionDenied(f"{user.username} may not {action.replace('_', ' ')}: it needs the "
                               f"{_NEEDS[action]} role (has: {', '.join(sorted(user.roles)) or 'no role'})")
    return user


def current_account(con: Any, user: User) -> User:
    """`user` as the store's accounts table has it now (roles, display name, enabled)."""
    row = con.execute("SELECT roles, display_name, active FROM users WHERE username = ?", (user.username,)).fetchone()
    if row is None:
        return user
    return User(user.username, parse_roles(row[0]), display_name=row[1], active=bool(row[2]))


def command_line_user() -> User:
    """The operator of `python -m lungseg_core ...` on the server: whoever can run it can already
    read and write the store's files, so it acts with every role, recorded as `cli:<os user>`."""
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return User(f"cli:{who}", frozenset(ROLES), display_name=f"command line ({who})")
