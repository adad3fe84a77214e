"""Sign-in for every page: local accounts (the default) or the hospital's identity provider.

`require_user()` runs at the top of every page (through `state.sidebar`). It returns the signed-in
`User`, or shows the first-run screen / the sign-in form / a forced password change and stops the
page. Roles are re-read from the store on every run, so disabling someone or removing a role
takes effect on their next click. The session token lives in a cookie (SameSite=Strict, Secure
over HTTPS), so a reload keeps the user signed in; the database keeps only its hash.

Identity provider: when `.streamlit/secrets.toml` has an `[auth]` section, sign-in goes through
`st.login` (OpenID Connect) instead. The person comes in only with an e-mail address the provider
verified (`email_verified`, or `[lungseg_identity] trust_provider_emails = true` for a provider that
verifies every address), onto an account an admin made for it or linked to it
(`UserDirectory.identity_user`).

Anything that changes something from a fragment or a callback asks `acting_user()`, which reads the
session again, so a person signed out or disabled since the page was drawn does nothing.

First run: the "create the first admin" screen is offered to a browser on this machine (server on
loopback, no proxy headers), or to whoever gives the one-time setup token the server prints in its
log; behind a reverse proxy on the same host, everyone looks local, so the token is needed.
"""
from __future__ import annotations

import ipaddress
import json
import secrets
import sys
from typing import Callable

import streamlit as st

from lungseg_core.people.access_control import ROLES, User
from lungseg_core.people.accounts import MIN_PASSWORD_LENGTH, SESSION_HOURS, AccountError, SignInError, UserDirectory
from lungseg_app.plain_text import plain
from lungseg_app.store_access import cached_claims, cached_store

USER_KEY = "auth_user"  # the signed-in username (session state, not a widget)
TOKEN_KEY = "auth_token"
COOKIE = "lungseg_session"


def _claims_of_store():  # type: ignore[no-untyped-def]
    return cached_claims()


def users_directory() -> UserDirectory:
    return _directory(cached_store().database.address)


@st.cache_resource(show_spinner=False)
def _directory(address: str) -> UserDirectory:
    return UserDirectory(address)


def identity_provider_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: local accounts
        return False


def trust_provider_emails() -> bool:
    try:
        return bool(st.secrets.get("lungseg_identity", {}).get("trust_provider_emails", False))
    except Exception:
        return False


_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host", "x-forwarded-proto")


def behind_proxy() -> bool:
    """Whether the request came through a reverse proxy (which makes every visitor look local)."""
    try:
        headers = st.context.headers
        return any(headers.get(h) for h in _PROXY_HEADERS)
    except Exception:
        return False


@st.cache_resource(show_spinner=False)
def setup_token() -> str:
    """The one-time first-run token of this server process, printed to its log once."""
    token = secrets.token_urlsafe(16)
    print(f"LungSeg Studio: no account exists yet. To create the first admin from another machine or "
          f"through a proxy, give this setup token on the first-run screen: {token}", file=sys.stderr, flush=True)
    return token


def first_run_allowed_without_token() -> bool:
    return served_on_loopback() and not behind_proxy()


def client_address() -> str | None:
    try:
        address = st.context.ip_address
    except Exception:
        return None
    return address if isinstance(address, str) and address else None


def served_on_loopback() -> bool:
    """Whether the server listens on this machine only (the default in .streamlit/config.toml). Read
    from the server's own setting, which a visitor cannot spoof (unlike a client address)."""
    address = st.get_option("server.address")
    if not address:
        return False  # Streamlit then listens on every interface
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _write_cookie(token: str | None) -> None:
    """Set (or, with None, delete) the session cookie in the browser; a hidden component because
    Streamlit has no server-side Set-Cookie for app code."""
    value = json.dumps(token or "")
    max_age = int(SESSION_HOURS * 3600) if token else 0
    # st.iframe (components.v1.html's successor): a same-origin frame that may run this one script,
    # written by us only (the token is JSON-quoted; nothing of a user's goes in)
    st.iframe(
        f"""<script>
        const secure = window.parent.location.protocol === 'https:' ? '; Secure' : '';
        window.parent.document.cookie = '{COOKIE}=' + {value} + '; path=/; max-age={max_age}; SameSite=Strict' + secure;
        </script>""", height=1)


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser request behind this session (tests, scripts)
        return None
    return value if isinstance(value, str) and value else None


def acting_user() -> User | None:
    """The signed-in user as the store has them now, for a fragment or callback about to change
    something: None if the session was signed out or ended meanwhile, or the account disabled."""
    token = st.session_state.get(TOKEN_KEY)
    if token is not None and users_directory().session_user(token) is None:
        return None
    return signed_in_user()


def acting_user_later() -> Callable[[], User | None]:
    """`acting_user` for code that runs outside the script run (a download button's deferred data
    runs on another thread, without session state): the session is captured now, read then."""
    token, username = st.session_state.get(TOKEN_KEY), st.session_state.get(USER_KEY)
    users = users_directory()

    def later() -> User | None:
        if token is not None and users.session_user(token) is None:
            return None
        user = users.get(username) if username else None
        return user if user is not None and user.active and user.roles else None

    return later


def signed_in_user() -> User | None:
    """The current user without showing anything (None if nobody is signed in)."""
    username = st.session_state.get(USER_KEY)
    if not username:
        return None
    user = users_directory().get(username)
    if user is None or not user.active or not user.roles:
        return None
    return user


def require_user() -> User:
    """The signed-in user, or the sign-in screens and st.stop()."""
    if identity_provider_configured():
        return _identity_provider_user()
    users = users_directory()
    token = st.session_state.get(TOKEN_KEY)
    if token is None and not st.session_state.get("_signed_out"):
        token = _cookie_token()
        user = users.session_user(token)
        if user is not None:
            st.session_state[TOKEN_KEY], st.session_state[USER_KEY] = token, user.username
    elif token is not None and users.session_user(token) is None:  # expired, revoked or disabled meanwhile
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state.pop(USER_KEY, None)
    user = signed_in_user()
    if user is None:
        _sign_in_screen(users)
        st.stop()
    if users.must_change_password(user.username):
        _change_password_screen(users, user, forced=True)
        st.stop()
    if st.session_state.get(TOKEN_KEY):
        with st.sidebar:  # a hidden element: kept out of the page's layout
            _write_cookie(st.session_state[TOKEN_KEY])
    return user


def _sign_in_screen(users: UserDirectory) -> None:
    st.title("LungSeg Studio")
    if st.session_state.get("_signed_out"):
        _write_cookie(None)  # here, not at the sign-out click: a rerun there cuts the delete off
    if users.count() == 0:
        need_token = not first_run_allowed_without_token()
        if need_token:
            setup_token()  # printed in the server's log
        st.subheader("Welcome: create the first admin account")
        st.write("This account manages users, retraining and which model is the default. Add annotators and "
                 "reviewers afterwards on the Users page.")
        st.caption(f"The password needs at least {MIN_PASSWORD_LENGTH} characters and must not contain the user "
                   "name; a sentence you remember works well.")
        with st.form("first_admin"):
            name = st.text_input("User name", key="_first_user")
            display = st.text_input("Full name (optional)", key="_first_display")
            password = st.text_input(f"Password (at least {MIN_PASSWORD_LENGTH} characters)", type="password",
                                     key="_first_password")
            again = st.text_input("Password again", type="password", key="_first_again")
            token = st.text_input("Setup token (printed in the server's log)", type="password", key="_first_token",
                                  help="Needed when the app is not opened on the server itself, or through a proxy. "
                                       "Or create the admin on the server: python -m lungseg_core users add NAME "
                                       "--roles admin") if need_token else ""
            problem = st.empty()  # beside the fields and the button, not below the window
            create = st.form_submit_button("Create admin and sign in", type="primary")
        if create:
            if need_token and not secrets.compare_digest(token.strip().encode(), setup_token().encode()):
                problem.error("Wrong setup token: copy it from the server's log (or create the admin on the server).")
                return
            if password != again:
                problem.error("The two passwords differ.")
                return
            try:
                users.create_first_admin(name, password, display)
                _sign_in(users, name, password)
            except (AccountError, SignInError) as exc:
                problem.error(str(exc))
        return
    st.subheader("Sign in")
    if st.session_state.get("_signed_out"):
        st.caption("You are signed out.")
    with st.form("sign_in"):
        name = st.text_input("User name", key="_signin_user")
        password = st.text_input("Password", type="password", key="_signin_password")
        problem = st.empty()
        go = st.form_submit_button("Sign in", type="primary")
    st.caption("No account? Ask an admin of this server to add you.")
    if go:
        try:
            _sign_in(users, name, password)
        except SignInError as exc:
            problem.error(str(exc))


def _sign_in(users: UserDirectory, name: str, password: str) -> None:
    user, token = users.sign_in(name, password, client_address())
    st.session_state[USER_KEY], st.session_state[TOKEN_KEY] = user.username, token
    st.session_state.pop("_signed_out", None)
    st.rerun()


def _change_password_screen(users: UserDirectory, user: User, forced: bool) -> None:
    st.subheader("Choose a new password" if forced else "Change your password")
    if forced:
        st.info("Your password was set by an admin: choose your own before you continue.")
    with st.form("change_password"):
        old = st.text_input("Current password", type="password", key="_pw_old")
        new = st.text_input(f"New password (at least {MIN_PASSWORD_LENGTH} characters)", type="password", key="_pw_new")
        again = st.text_input("New password again", type="password", key="_pw_again")
        go = st.form_submit_button("Change password", type="primary")
    if go:
        if new != again:
            st.error("The two new passwords differ.")
            return
        try:
            users.change_own_password(user, old, new, st.session_state.get(TOKEN_KEY))
        except (AccountError, SignInError) as exc:
            st.error(str(exc))
        else:
            st.success("Password changed.")
            st.rerun()


def sign_out() -> None:
    username = st.session_state.get(USER_KEY)
    if username:
        try:
            _claims_of_store().release_all(username)  # the cases this person held go back to the queue
        except Exception:
            pass  # a claim that cannot be released now lapses by itself
    users_directory().sign_out(st.session_state.pop(TOKEN_KEY, None))
    st.session_state.pop(USER_KEY, None)
    st.session_state["_signed_out"] = True
    if identity_provider_configured():
        st.logout()
    # the sign-in screen the next run shows deletes the cookie (a component written here would be
    # cut off by the rerun); the session behind it is already gone


def user_panel(user: User) -> None:
    """Sidebar: who is signed in, with which roles, and sign-out."""
    st.caption(f"Signed in as **{plain(user.label)}** ({', '.join(r for r in ROLES if r in user.roles)})")
    if st.button("Sign out", key="_sign_out"):
        sign_out()
        st.rerun()


def _identity_provider_user() -> User:
    if not st.user.is_logged_in:
        st.title("LungSeg Studio")
        st.write("Sign in with your hospital account.")
        if st.button("Sign in with the hospital's identity provider", type="primary", key="_oidc_login"):
            st.login()
        st.stop()
    claims = st.user.to_dict()
    email = str(claims.get("email") or "").strip().lower()
    users = users_directory()
    user = users.identity_user(claims, trust_provider_emails())
    if user is None:
        st.title("LungSeg Studio")
        if not email:
            st.error("Your identity provider did not give an e-mail address, which this server needs to know you.")
        elif not (claims.get("email_verified") is True or trust_provider_emails()):
            st.error(f"Your identity provider has not verified the e-mail address {plain(email)}, so this server "
                     "cannot match it to an account: verify it with your provider, or ask an admin.")
        else:
            st.error(f"You are signed in as {plain(email)}, but this server has no active account with a role "
                     "for that address: ask an admin to add you (Users page, or on the server: "
                     "python -m lungseg_core users add ADDRESS --roles annotator --no-password).")
        if st.button("Sign out", key="_oidc_logout"):
            st.logout()
        st.stop()
    if st.session_state.get(USER_KEY) != user.username:
        st.session_state[TOKEN_KEY] = users.open_identity_session(user)  # audited sign-in
        st.session_state[USER_KEY] = user.username
    return user
