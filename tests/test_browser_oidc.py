"""Real browser, sign-in through an identity provider (OpenID Connect, Streamlit's st.login)
against a real local provider (oidc-provider-mock) started by the test: a person with an account
here comes in with that account's roles and is audited; a person without one is told to ask an
admin and sees nothing else. Only a verified e-mail maps a person, never a provider user name,
and never onto an account with a local password unless an admin linked them."""
from __future__ import annotations

import secrets

import pytest

from lungseg_testing.browser import free_port, streamlit_app
from lungseg_core.people.access_control import command_line_user
from lungseg_core.people.accounts import UserDirectory
from lungseg_core.people.audit import AuditLog

TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def oidc_app(tmp_path_factory):
    from oidc_provider_mock import User, run_server_in_thread

    root = tmp_path_factory.mktemp("oidc")
    store = root / "store"
    users = UserDirectory(store / "store.sqlite")
    cli = command_line_user()
    users.add_user(cli, "dana@hospital.org", "reviewer", None, display_name="Dr Dana")
    users.add_user(cli, "boss", "admin", "office key 4411", display_name="Local Boss")
    users.add_user(cli, "boss@hospital.org", "admin", "office key 4412", display_name="Boss by mail")
    users.add_user(cli, "lee", "annotator", "office key 4413", display_name="Lee Linked")
    users.link_identity(cli, "lee", "lee@hospital.org")
    people = [User(sub="dana-sub", claims={"email": "dana@hospital.org", "email_verified": True}),
              User(sub="unverified-sub", claims={"email": "dana@hospital.org", "email_verified": False}),
              User(sub="username-only-sub", claims={"preferred_username": "boss"}),
              User(sub="local-password-sub", claims={"email": "boss@hospital.org", "email_verified": True}),
              User(sub="lee-sub", claims={"email": "lee@hospital.org", "email_verified": True}),
              User(sub="eve-sub", claims={"email": "eve@elsewhere.org", "email_verified": True})]
    with run_server_in_thread(user_claims=people) as provider:
        port = free_port()
        secrets_file = root / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_hex(32)}"\n'
            'client_id = "lungseg-studio"\n'
            'client_secret = "test-client-secret"\n'
            f'server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"\n')
        with streamlit_app(env={"LUNGSEG_STORE": str(store), "AUTHLIB_INSECURE_TRANSPORT": "1"}, port=port,
                           extra_args=["--secrets.files", str(secrets_file)]) as url:
            yield url, store


def _sign_in_at_provider(browser, url: str, subject: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Sign in with the hospital's identity provider").click()
    page.locator("input[name=sub]").fill(subject)  # the provider's own page
    page.get_by_role("button", name="Authorize").click()
    return context, page


def test_a_known_person_signs_in_through_the_provider(browser, oidc_app):
    url, store = oidc_app
    context, page = _sign_in_at_provider(browser, url, "dana-sub")
    page.get_by_text("Signed in as Dr Dana (reviewer)").wait_for()
    page.get_by_text("Try a sample case").wait_for()
    page.reload()  # Streamlit's identity cookie keeps the person signed in
    page.get_by_text("Signed in as Dr Dana (reviewer)").wait_for()
    entries = AuditLog(store / "store.sqlite").entries(command_line_user(), action="sign_in")
    assert entries and entries[0].actor == "dana@hospital.org" and entries[0].detail == {"method": "identity provider"}
    context.close()


def test_an_unknown_person_is_told_to_ask_an_admin(browser, oidc_app):
    url, _ = oidc_app
    context, page = _sign_in_at_provider(browser, url, "eve-sub")
    page.get_by_text("You are signed in as eve@elsewhere.org, but this server has no active account").wait_for()
    assert page.get_by_text("Try a sample case").count() == 0
    context.close()


@pytest.mark.parametrize("subject, refusal", [
    ("unverified-sub", "has not verified the e-mail address dana@hospital.org"),   # an unverified address
    ("username-only-sub", "did not give an e-mail address"),                      # preferred_username: boss
    ("local-password-sub", "no active account with a role for that address"),     # a local-password account
])
def test_provider_accounts_never_reach_accounts_they_do_not_own(browser, oidc_app, subject, refusal):
    url, store = oidc_app
    context, page = _sign_in_at_provider(browser, url, subject)
    page.get_by_text(refusal).wait_for()
    assert page.get_by_text("Try a sample case").count() == 0
    assert page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").count() == 0
    context.close()


def test_an_account_an_admin_linked_signs_in_through_the_provider(browser, oidc_app):
    url, store = oidc_app
    context, page = _sign_in_at_provider(browser, url, "lee-sub")
    page.get_by_text("Signed in as Lee Linked (annotator)").wait_for()
    context.close()
