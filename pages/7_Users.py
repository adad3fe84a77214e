"""Users (admins): add people with roles, change roles, disable or enable, reset a password."""
from __future__ import annotations

import time

import streamlit as st

from lungseg_app.auth import identity_provider_configured, users_directory
from lungseg_app.plain_text import plain
from lungseg_app.state import cached_store, sidebar
from lungseg_app.case_navigation import cached_worklist
from lungseg_core import LungSegError
from lungseg_core.people.access_control import ROLES
from lungseg_core.people.accounts import one_time_password
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.team_figures import team_figures

#: A one-time password stays on its admin's page (also across a reload) this long, or until "Done";
#: it is kept in this server's memory only, never written anywhere.
PASSWORD_SHOWN_S = 15 * 60


@st.cache_resource(show_spinner=False)
def shown_passwords() -> dict[str, tuple[str, str, float]]:
    """admin user name -> (for whom, the one-time password, when it was made)."""
    return {}


st.set_page_config(page_title="Users · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Users")
if not user.can("manage_users"):
    st.info("Managing users is for admins.")
    st.stop()
users = users_directory()
added = st.session_state.pop("_users_added", None)
if added:
    st.success(plain(added))
st.caption("Annotators segment, correct and submit; reviewers also approve, reject and reopen other people's "
           "work; admins also manage users, retrain, promote and delete. Nobody approves their own correction.")

one_time = shown_passwords().get(user.username)
if one_time is not None and time.monotonic() - one_time[2] < PASSWORD_SHOWN_S:
    st.success(f"One-time password for {plain(one_time[0])} (give it to them in person; they choose their own at "
               "the first sign-in). Copy it with the button at the right of the box:")
    st.code(one_time[1], language=None)
    if st.button("Done: I have handed it over", key="_otp_done"):
        shown_passwords().pop(user.username, None)
        st.rerun()
elif one_time is not None:
    shown_passwords().pop(user.username, None)

st.dataframe([{"user": u.username, "name": u.display_name, "roles": ", ".join(r for r in ROLES if r in u.roles),
               "active": u.active} for u in users.list_users()], hide_index=True)

st.subheader("Add a user")
oidc = identity_provider_configured()
with st.form("add_user", clear_on_submit=True):
    a1, a2 = st.columns(2)
    name = a1.text_input("User name" + (" (their e-mail address at the identity provider)" if oidc else ""),
                         key="_nu_name")
    display = a2.text_input("Full name (optional)", key="_nu_display")
    roles = st.multiselect("Roles", ROLES, default=["annotator"], key="_nu_roles")
    add = st.form_submit_button("Add user", type="primary")
if add:
    password = None if oidc else one_time_password(name)
    try:
        users.add_user(user, name, set(roles), password, display_name=display)
    except (LungSegError, ValueError) as exc:
        st.error(f"Not added: {exc}")
    else:
        if password:
            shown_passwords()[user.username] = (name.strip().lower(), password, time.monotonic())
        else:
            st.session_state["_users_added"] = f"Added {name.strip().lower()}: they sign in with the identity provider."
        st.rerun()  # the table above shows the new person at once

st.subheader("Change a user")
others = [u for u in users.list_users()]
picked_name = st.selectbox("User", [u.username for u in others], key="_cu_user")
picked = next(u for u in others if u.username == picked_name)
reason = st.text_input("Reason (kept in the audit log)", key="_cu_reason")
new_roles = st.multiselect("Roles", ROLES, default=[r for r in ROLES if r in picked.roles],
                           key=f"_cu_roles_{picked_name}")
b1, b2, b3 = st.columns(3)
try:
    if b1.button("Save roles", key="_cu_save_roles"):
        users.set_roles(user, picked.username, set(new_roles), reason)
        st.success(f"{picked.username}: {', '.join(new_roles) or 'no role'}")
        st.rerun()
    if b2.button("Enable" if not picked.active else "Disable", key="_cu_toggle"):
        users.set_active(user, picked.username, not picked.active, reason)
        st.rerun()
    if oidc:
        link = st.text_input("Identity-provider e-mail that may sign in as this user (verified by the provider)",
                             key=f"_cu_link_{picked_name}")
        if st.button("Link", key="_cu_link", disabled=not link.strip()):
            users.link_identity(user, picked.username, link, reason)
            st.success(f"{plain(link.strip().lower())} now signs in as {plain(picked.username)}.")
    if not oidc and b3.button("Reset password", key="_cu_reset"):
        one_time = one_time_password(picked.username)
        users.reset_password(user, picked.username, one_time, reason)
        shown_passwords()[user.username] = (picked.username, one_time, time.monotonic())
        st.rerun()
except (LungSegError, ValueError) as exc:
    st.error(f"Not changed: {exc}")

st.subheader("Who did what")
st.caption("Per person: cases sent for review, median minutes from taking a case to sending it (claims in the "
           "audit log), and the share approved the first time it was reviewed.")
store = cached_store()
figures = team_figures(store, cached_worklist(), AuditLog(store.database), user)
if figures:
    st.dataframe([f.as_row() for f in figures], hide_index=True)
else:
    st.caption("Nobody has sent a case for review yet.")
