"""Sign a person in for an AppTest: an account in the store's database, and the session key the
app's sign-in gate reads (what a successful sign-in sets)."""
from __future__ import annotations

from lungseg_app.auth import USER_KEY
from lungseg_core.people.access_control import User, command_line_user
from lungseg_core.people.accounts import UserDirectory


def sign_in_as(at, store, user: User) -> None:  # type: ignore[no-untyped-def]
    users = UserDirectory(store.database)
    if users.get(user.username) is None:
        users.add_user(command_line_user(), user.username, user.roles, None)
    at.session_state[USER_KEY] = user.username
