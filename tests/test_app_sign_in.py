"""AppTest of the sign-in gate: first run creates the admin, visitors see nothing else, forced
password change, role-gated pages (Users, Audit, Retrain) and the claim notice on Correct."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lungseg_app.auth import TOKEN_KEY, USER_KEY
from lungseg_core.people.access_control import command_line_user
from lungseg_core.people.accounts import UserDirectory
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.case_claims import Claims
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.models.samples import list_samples

from .people import ADMIN, ANN, ANN2
from .signed_in import sign_in_as

ROOT = Path(__file__).resolve().parent.parent
PW = "a long enough password"


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))
    return SQLiteCorrectionsStore(tmp_path / "store")


def _page(path: str) -> AppTest:
    return AppTest.from_file(str(ROOT / path), default_timeout=120)


def _texts(at: AppTest) -> str:
    return " ".join(str(el.value) for kind in ("markdown", "title", "subheader", "info", "error", "success", "warning",
                                                "caption") for el in getattr(at, kind))


def test_first_run_creates_the_admin_then_sign_in_is_required(store):
    at = _page("app.py").run()
    assert "create the first admin account" in _texts(at)
    assert not at.dataframe  # nothing of the app before sign-in
    at.text_input(key="_first_user").set_value("Alice")
    at.text_input(key="_first_password").set_value(PW)
    at.text_input(key="_first_again").set_value(PW + "x")
    at.button(key="FormSubmitter:first_admin-Create admin and sign in").click().run()
    assert "differ" in _texts(at)
    at.text_input(key="_first_again").set_value(PW)
    at.button(key="FormSubmitter:first_admin-Create admin and sign in").click().run()
    assert not at.exception
    assert at.session_state[USER_KEY] == "alice" and at.session_state[TOKEN_KEY]
    assert "Signed in as" in " ".join(c.value for c in at.sidebar.caption)
    assert at.dataframe  # the models table of the home page

    visitor = _page("pages/5_Review.py").run()
    assert "Sign in" in _texts(visitor) and "Review corrections" not in _texts(visitor)
    visitor.text_input(key="_signin_user").set_value("alice")
    visitor.text_input(key="_signin_password").set_value("wrong password")
    visitor.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert "wrong user name or password" in _texts(visitor)
    visitor.text_input(key="_signin_password").set_value(PW)
    visitor.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert "Review corrections" in _texts(visitor)
    visitor.sidebar.button(key="_sign_out").click().run()
    assert "Sign in" in _texts(visitor) and USER_KEY not in visitor.session_state
    actions = [e.action for e in AuditLog(store.database).entries(command_line_user())][::-1]
    assert actions == ["user_added", "sign_in", "sign_in_failed", "sign_in", "sign_out"]


def test_a_reset_password_must_be_changed_before_anything_else(store):
    users = UserDirectory(store.database)
    users.add_user(command_line_user(), "bob", "annotator", "one time pass 1")
    at = _page("pages/1_Segment.py").run()
    at.text_input(key="_signin_user").set_value("bob")
    at.text_input(key="_signin_password").set_value("one time pass 1")
    at.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert "Choose a new password" in _texts(at)
    at.text_input(key="_pw_old").set_value("one time pass 1")
    at.text_input(key="_pw_new").set_value("my chosen words 7")
    at.text_input(key="_pw_again").set_value("my chosen words 7")
    at.button(key="FormSubmitter:change_password-Change password").click().run()
    assert not at.exception and "Choose a new password" not in _texts(at)
    assert not users.must_change_password("bob")


@pytest.mark.parametrize("path,title", [("pages/7_Users.py", "Managing users is for admins"),
                                        ("pages/8_Audit.py", "The audit log is for admins"),
                                        ("pages/6_Retrain.py", "are for admins")])
def test_admin_pages_refuse_annotators(store, path, title):
    at = _page(path)
    sign_in_as(at, store, ANN)
    at.run()
    assert title in _texts(at)
    assert not [b for b in at.button if b.key in ("_rt_start", "_pr_promote", "_cu_save_roles")]


def test_users_page_adds_a_user_and_audit_page_shows_it(store):
    at = _page("pages/7_Users.py")
    sign_in_as(at, store, ADMIN)
    at.run()
    at.text_input(key="_nu_name").set_value("carol")
    at.multiselect(key="_nu_roles").set_value(["reviewer"])
    at.button(key="FormSubmitter:add_user-Add user").click().run()
    assert "One-time password for carol" in _texts(at)
    one_time = at.code[0].value  # in a box with a copy button
    assert len(one_time) >= 10 and "carol" not in one_time
    assert "carol" in list(at.dataframe[0].value["user"])  # the table is current at once
    assert "Who did what" in [h.value for h in at.subheader]  # per-person figures (tests/test_team_figures.py)
    assert UserDirectory(store.database).get("carol").roles == {"reviewer"}
    assert UserDirectory(store.database).sign_in("carol", one_time)[0].username == "carol"
    audit = _page("pages/8_Audit.py")
    sign_in_as(audit, store, ADMIN)
    audit.run()
    rows = audit.dataframe[0].value
    assert any(r["who"] == ADMIN.username and r["target"] == "carol" for _, r in rows.iterrows())


def test_correct_shows_who_holds_the_case_and_refuses_the_save(store):
    sample = list_samples()[0]
    first = _page("pages/4_Correct.py")
    sign_in_as(first, store, ANN)
    first.run()
    first.selectbox(key="_sample_widget").set_value(sample.label).run()
    first.button(key="_open_sample").click().run()
    case_hash = first.session_state["case"].hash
    assert Claims(store.database).holder(case_hash) is None  # looking claims nothing (browsing cannot lock the queue)
    first.button(key="_reset").click().run()  # an edit claims the case
    assert Claims(store.database).holder(case_hash).username == ANN.username
    second = _page("pages/4_Correct.py")
    sign_in_as(second, store, ANN2)
    second.run()
    second.selectbox(key="_sample_widget").set_value(sample.label).run()
    second.button(key="_open_sample").click().run()
    assert "ann is editing this X\\-ray" in _texts(second)  # shown escaped (plain text)
    second.button(key="_save").click().run()
    assert any("Not saved" in e.value for e in second.error)
    assert store.list_corrections() == []
    first.button(key="_nav_next").click().run()  # leaving the case gives it back to the queue
    assert Claims(store.database).holder(case_hash) is None
