"""Session state shared by the pages, and the cached model / prediction resources.

Widget state is dropped when the user switches pages, so the current case and the chosen model
are kept in plain session keys (not widget keys). Who is working is the signed-in user (`auth`).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402

from lungseg_core import ImageReadError, LungSegError, list_models, load_model, read_xray  # noqa: E402
from lungseg_core.people.access_control import User  # noqa: E402
from lungseg_app.auth import require_user, user_panel  # noqa: E402
from lungseg_app.plain_text import plain  # noqa: E402
from lungseg_core.workflow.corrections_store import stored_image_hash  # noqa: E402
from lungseg_core.models.byte_lru import ByteLRU  # noqa: E402
from lungseg_core.imaging.case_report import GroundTruth, load_ground_truth  # noqa: E402
from lungseg_core.workflow.case_segmentation import CaseSegmentation, analyse  # noqa: E402
from lungseg_core.models.samples import Sample  # noqa: E402
from lungseg_core.models.segmenter import Segmenter  # noqa: E402
from lungseg_core.pacs.sources import PacsSources  # noqa: E402
from lungseg_app.store_access import cached_claims, cached_store, store_write_problem  # noqa: E402,F401 (re-exported)

CASE_KEY = "case"
MODEL_KEY = "model_name"


@dataclass
class Case:
    """The X-ray under review, carried across pages."""

    pixels: np.ndarray
    meta: dict[str, Any]
    label: str
    hash: str
    truth: GroundTruth | None = None
    truth_label: str | None = None
    notes: list[str] = field(default_factory=list)
    number: int | None = None  # the worklist case number, once the X-ray is a case


#: Models kept loaded at once ($LUNGSEG_MAX_MODELS, default 4): Compare runs every model, and
#: keeping all of them resident would cost ~40-60 MB each on top of torch's ~0.9 GB.
MAX_LOADED_MODELS = int(os.environ.get("LUNGSEG_MAX_MODELS", "4"))


@st.cache_resource(show_spinner=False)
def _model_cache() -> "OrderedDict[str, Segmenter]":
    return OrderedDict()


@st.cache_resource(show_spinner=False)
def _model_lock() -> threading.Lock:
    return threading.Lock()


def cached_model(name: str) -> Segmenter:
    """Loaded once and never mutated; the least recently used model is dropped past MAX_LOADED_MODELS
    (a session still using it keeps its reference until done)."""
    cache, lock = _model_cache(), _model_lock()
    with lock:
        if name in cache:
            cache.move_to_end(name)
            return cache[name]
    model = load_model(name)
    with lock:
        cache[name] = model
        cache.move_to_end(name)
        while len(cache) > MAX_LOADED_MODELS:
            cache.popitem(last=False)
    return model


#: Bytes of predictions kept for all users together ($LUNGSEG_CACHE_MB, default 128: ~190
#: predictions of a 512x512 X-ray, i.e. every model on ~20 images).
PREDICTION_CACHE_MB = int(os.environ.get("LUNGSEG_CACHE_MB", "128"))


@st.cache_resource(show_spinner=False)
def _prediction_cache() -> ByteLRU[CaseSegmentation]:
    return ByteLRU(PREDICTION_CACHE_MB * 1024 * 1024)


def cached_segmentation(hash_: str, model: str, _pixels: np.ndarray) -> CaseSegmentation:
    """One analysis per (image, model) while it fits the shared byte budget (the one inference task:
    mask, maps and quality signals): display changes never re-run the network, making the X-ray a
    case reuses it, and memory stays bounded whatever is uploaded."""
    def compute() -> CaseSegmentation:
        result = analyse(cached_model(model), _pixels)
        release_freed_memory()
        # Kept as 8-bit maps (1/255 steps, invisible on screen): a quarter of float32's bytes. The
        # mask was made from the full-precision probability before this.
        return replace(result, probability=to_uint8(result.probability), uncertainty=to_uint8(result.uncertainty))

    return _prediction_cache().get_or_compute((hash_, model), compute)


def to_uint8(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)


def release_freed_memory() -> None:
    """Hand memory freed by a prediction's temporaries back to the OS (glibc keeps it otherwise,
    and the server's resident size only grows: bench/memory.py)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def current_case() -> Case | None:
    return st.session_state.get(CASE_KEY)


def set_case_from_bytes(data: bytes, label: str) -> Case:
    """Decode an upload and make it the current case; raises ImageReadError with a user message."""
    image = read_xray(data)
    case = Case(image.pixels, image.meta, label, stored_image_hash(image.pixels))  # the store's key, as a case's
    previous = current_case()
    if previous is not None and previous.hash == case.hash:
        return previous  # same picture again: keep its ground truth
    st.session_state[CASE_KEY] = case
    return case


def set_case_from_sample(sample: Sample) -> Case:
    case = set_case_from_bytes(sample.image_path.read_bytes(), sample.label)
    case.truth = load_ground_truth(sample.mask_path.read_bytes(), case.pixels.shape)
    case.truth_label = f"{sample.id} reference mask"
    return case


def set_truth_from_bytes(case: Case, data: bytes, label: str) -> None:
    """Attach a reference mask (a mask image or a DICOM SEG); raises LungSegError (MaskError) with a user
    message. For an X-ray from the PACS, a SEG drawn on another image is refused by its source UID."""
    source = PacsSources(cached_store().database).of(case.hash)
    case.truth = load_ground_truth(data, case.pixels.shape, source.sop_uid if source else None)
    case.truth_label = label


def chosen_model() -> str:
    names = list_models()
    name = st.session_state.get(MODEL_KEY)
    if name not in names:
        from lungseg_core.models.model_versions import default_model_name

        default = default_model_name()
        name = default if default in names else (names[0] if names else None)
        st.session_state[MODEL_KEY] = name
    return name


def sidebar() -> User:
    """Sign-in first (stops the page for a visitor), then who is working and with which model."""
    user = require_user()
    problem = store_write_problem()
    if problem:
        st.error(f"Read-only for now: {problem}. You can look at cases and figures, but nothing can be saved until "
                 "an admin frees space. Edits you make stay on this page until then; do not close it.", icon="⚠️")
    names = list_models()
    with st.sidebar:
        user_panel(user)
        if not names:
            st.error("No trained models in weights/.")
            return user
        current = chosen_model()
        picked = st.selectbox("Model", names, index=names.index(current), key="_model_widget",
                              help="Used on every page; the default is the best accuracy/speed trade-off on CPU.")
        st.session_state[MODEL_KEY] = picked
        case = current_case()
        if case is not None:
            st.caption(f"Current case: {plain(case.label)} ({case.pixels.shape[1]}x{case.pixels.shape[0]})")
    return user


__all__ = ["Case", "ImageReadError", "LungSegError", "cached_model", "cached_segmentation", "chosen_model",
           "current_case", "set_case_from_bytes", "set_case_from_sample", "set_truth_from_bytes", "sidebar"]
