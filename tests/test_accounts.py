"""Local accounts: argon2 hashes, sign-in, sessions that expire and survive a reload, user management."""
from datetime import datetime, timedelta, timezone

import pytest

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core.people import accounts
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.people.accounts import AccountError, SignInError, UserDirectory
from lungseg_core.people.audit import AuditLog
from lungseg_core.people.sign_in_throttle import SignInThrottle

from .people import ANN, REV
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

PW = "correct horse battery"


@pytest.fixture()
def users(tmp_path):
    """A directory with a throttle of its own (the process-wide one would carry one run's failed
    sign-ins into the next: the same test runs on each database)."""
    return UserDirectory(new_database(tmp_path / "store.sqlite"), throttle=SignInThrottle())


def test_first_admin_only_once_and_password_stored_as_argon2(users, tmp_path):
    admin = users.create_first_admin("Alice@Example.org", PW, "Alice A.")
    assert admin.username == "alice@example.org" and admin.roles == {"admin"}
    with pytest.raises(AccountError, match="already exists"):
        users.create_first_admin("mallory", PW)
    (stored,) = new_database(tmp_path / "store.sqlite").connect().execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$") and PW not in stored
    with pytest.raises(AccountError, match="at least"):
        UserDirectory(tmp_path / "other.sqlite").create_first_admin("bob", "short")
    assert not users.must_change_password("alice@example.org")  # chosen on the first-run screen


def test_a_first_admin_whose_password_a_script_printed_must_change_it(tmp_path):
    """tools/run_cluster.sh prints the first admin's one-time password: the first sign-in must change it."""
    users = UserDirectory(tmp_path / "store.sqlite")
    users.create_first_admin("admin", PW, must_change_password=True)
    assert users.must_change_password("admin")


def test_sign_in_session_reload_expiry_and_sign_out(users, tmp_path, monkeypatch):
    users.create_first_admin("alice", PW)
    with pytest.raises(SignInError, match="wrong user name or password"):
        users.sign_in("alice", "wrong password!")
    with pytest.raises(SignInError, match="wrong user name or password"):  # same words: no user enumeration
        users.sign_in("nobody", PW)
    user, token = users.sign_in("alice", PW)
    assert user.username == "alice" and len(token) >= 40
    again = UserDirectory(new_database(tmp_path / "store.sqlite"))  # a reload: a new process reads the cookie's token
    assert again.session_user(token).username == "alice"
    assert again.session_user("forged-token") is None and again.session_user(None) is None
    (row,) = new_database(tmp_path / "store.sqlite").connect().execute("SELECT token_hash FROM auth_sessions").fetchall()
    assert token not in row[0]  # only the hash is stored
    # expiry: a session whose time has passed is refused and removed
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    con = new_database(tmp_path / "store.sqlite").connect()
    con.execute("UPDATE auth_sessions SET expires_at = ?", (past,))
    con.commit()
    assert users.session_user(token) is None
    assert con.execute("SELECT COUNT(*) FROM auth_sessions").fetchone()[0] == 0
    _, token2 = users.sign_in("alice", PW)
    users.sign_out(token2)
    assert users.session_user(token2) is None
    actions = [e.action for e in AuditLog(new_database(tmp_path / "store.sqlite")).entries(READER)][::-1]
    assert actions == ["user_added", "sign_in_failed", "sign_in_failed", "sign_in", "sign_in", "sign_out"]


def test_session_hours_are_sliding(users, monkeypatch):
    users.create_first_admin("alice", PW)
    monkeypatch.setattr(accounts, "SESSION_HOURS", 0.0001)  # 0.36 s
    _, token = users.sign_in("alice", PW)
    assert users.session_user(token) is not None
    import time

    time.sleep(0.5)
    assert users.session_user(token) is None


def test_user_management_needs_admin_and_is_audited(users, tmp_path):
    admin = users.create_first_admin("alice", PW)
    with pytest.raises(PermissionDenied, match="admin"):
        users.add_user(REV, "bob", "annotator", PW)
    bob = users.add_user(admin, "bob", "annotator", "first pass 1234")
    assert users.must_change_password("bob")
    with pytest.raises(AccountError, match="already exists"):
        users.add_user(admin, "BOB", "reviewer", PW)
    with pytest.raises(ValueError, match="unknown role"):
        users.add_user(admin, "carol", "owner", PW)
    with pytest.raises(AccountError, match="user name"):
        users.add_user(admin, "x", "annotator", PW)
    _, token = users.sign_in("bob", "first pass 1234")
    users.change_own_password(bob, "first pass 1234", "my own secret 99")
    assert not users.must_change_password("bob")
    assert users.set_roles(admin, "bob", "annotator,reviewer", "promoted to reviewer").roles == {"annotator", "reviewer"}
    users.set_active(admin, "bob", False, "left the team")
    assert users.session_user(token) is None  # disabling ends sessions
    with pytest.raises(SignInError):
        users.sign_in("bob", "my own secret 99")
    users.set_active(admin, "bob", True)
    users.reset_password(admin, "bob", "temporary password 1", "forgot it")
    assert users.must_change_password("bob")
    assert users.sign_in("bob", "temporary password 1")[0].username == "bob"
    with pytest.raises(AccountError, match="last active admin"):
        users.set_roles(admin, "alice", "reviewer")
    with pytest.raises(AccountError, match="last active admin"):
        users.set_active(admin, "alice", False)
    with pytest.raises(PermissionDenied):
        users.set_roles(ANN, "bob", "admin")
    oidc_only = users.add_user(admin, "dana@hospital.org", "reviewer", None)
    assert users.identity_user({"email": "dana@hospital.org", "email_verified": True}) == oidc_only
    with pytest.raises(SignInError):  # no password: identity provider only
        users.sign_in("dana@hospital.org", "")
    log = AuditLog(new_database(tmp_path / "store.sqlite"))
    by_admin = [(e.action, e.target) for e in log.entries(READER, actor="alice")][::-1]
    assert by_admin == [("user_added", "alice"), ("user_added", "bob"), ("roles_changed", "bob"),
                        ("user_disabled", "bob"), ("user_enabled", "bob"), ("password_reset", "bob"),
                        ("user_added", "dana@hospital.org")]
    assert [e.reason for e in log.entries(READER, action="user_disabled")] == ["left the team"]
    assert "password_changed" in [e.action for e in log.entries(READER, actor="bob")]
