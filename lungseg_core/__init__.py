"""LungSeg Studio engine: read chest X-rays, build/train the registered models, segment, measure,
and run a team's worklist. Grouped by concern: `imaging` (files, masks, figures, drawings),
`models` (recipes, weights, versions, inference), `learning` (data, training, evaluation,
retraining), `workflow` (store, review, claims, worklist, quality estimate), `people` (roles,
accounts, audit). The names most callers need are importable from here.

    from lungseg_core import list_models, load_model
    seg = load_model("unet_lite0_slim")
    mask = seg.predict(image)   # bool HxW, same size as `image`
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded at run time

from .errors import ImageReadError, LungSegError, MaskError, UnknownModelError, WeightsNotFoundError  # noqa: E402
from .imaging.image_io import XrayImage, read_mask, read_xray  # noqa: E402
from .imaging.metrics import OverlapMetrics, overlap_metrics  # noqa: E402
from .models.model_loading import list_models, load_model  # noqa: E402
from .models.registry import DEFAULT_MODEL, Recipe, build_model, get_recipe, registered_names  # noqa: E402
from .models.segmenter import Segmenter  # noqa: E402
from .people.access_control import PermissionDenied, User, require  # noqa: E402
from .workflow.corrections_store import open_store  # noqa: E402
from .workflow.worklist import Worklist  # noqa: E402

__all__ = [
    "DEFAULT_MODEL", "ImageReadError", "LungSegError", "MaskError", "OverlapMetrics", "PermissionDenied", "Recipe",
    "Segmenter", "User", "Worklist", "open_store", "require",
    "UnknownModelError", "WeightsNotFoundError", "XrayImage", "build_model", "get_recipe", "list_models",
    "load_model", "overlap_metrics", "read_mask", "read_xray", "registered_names",
]
