"""The store this server works on, opened once per process: the corrections store, its claims, and
whether it can be written right now. Below both sign-in (`auth`) and the page state (`state`)."""
from __future__ import annotations

import time

import streamlit as st

from lungseg_core.storage.store_address import store_address
from lungseg_core.workflow.case_claims import Claims
from lungseg_core.workflow.corrections_store import open_store


def cached_store():
    """The corrections store ($LUNGSEG_STORE_URL, $LUNGSEG_STORE or the project's store/ folder)."""
    return _store(store_address())


@st.cache_resource(show_spinner=False)
def _store(url: str):
    return open_store(url)


def store_write_problem() -> str | None:
    """Why the store cannot be written right now (None: it can); probed at most every few seconds."""
    try:
        store = cached_store()
        root = str(store.root)
    except Exception:  # a store that cannot even be opened says so on its page
        return None
    checked = _write_probe().setdefault(root, {})
    now = time.monotonic()
    if now - checked.get("at", -1e9) > 5.0:
        probe = getattr(store, "write_problem", None)
        checked["problem"] = probe() if probe is not None else None
        checked["at"] = now
    return checked["problem"]


@st.cache_resource(show_spinner=False)
def _write_probe() -> dict:
    return {}


def cached_claims():
    """Who is editing which X-ray (the store's database)."""
    return _claims(cached_store().database.address)


@st.cache_resource(show_spinner=False)
def _claims(address: str) -> Claims:
    return Claims(address)
