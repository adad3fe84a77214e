"""Users (admins): add people with roles, change roles, disable or enable, reset a password."""
from __future__ import annotations

import streamlit as st

from lungseg_app.auth import identity_provider_configured, users_directory
from lungseg_app.state import sidebar
from lungseg_core import LungSegError
from lungseg_core.people.access_control import ROLES
from lungseg_core.people.accounts import one_time_password

st.set_page_config(page_title="Users · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Users")
if not user.can("manage_users"):
    st.info("Managing users is for admins.")
    st.stop()
users = users_directory()
st.caption("Annotators segment, correct and submit; reviewers also approve, reject and reopen other people's "
           "work; admins also manage users, retrain, promote and delete. Nobody approves their own correction.")

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
            st.success(f"Added {name.strip().lower()}. One-time password: `{password}` (give it to them in person; "
                       "they choose their own at the first sign-in).")
        else:
            st.success(f"Added {name.strip().lower()}: they sign in with the hospital's identity provider.")

st.subheader("Change a user")
others = [u for u in users.list_users()]
picked_name = st.selectbox("User", [u.username for u in others], key="_cu_user")
picked = next(u for u in others if u.username == picked_name)
reason = st.text_input("Reason (kept in the audit log)", key="_cu_reason")
new_roles = st.multiselect("Roles", ROLES, default=[r for r in ROLES if r in picked.roles], key=f"_cu_roles_{picked_name}")
b1, b2, b3 = st.columns(3)
try:
    if b1.button("Save roles", key="_cu_save_roles"):
        users.set_roles(user, picked.username, set(new_roles), reason)
        st.success(f"{picked.username}: {', '.join(new_roles) or 'no role'}")
        st.rerun()
    if b2.button("Enable" if not picked.active else "Disable", key="_cu_toggle"):
        users.set_active(user, picked.username, not picked.active, reason)
        st.rerun()
    if not oidc and b3.button("Reset password", key="_cu_reset"):
        one_time = one_time_password(picked.username)
        users.reset_password(user, picked.username, one_time, reason)
        st.success(f"One-time password for {picked.username}: `{one_time}` (to be changed at the next sign-in).")
except (LungSegError, ValueError) as exc:
    st.error(f"Not changed: {exc}")
