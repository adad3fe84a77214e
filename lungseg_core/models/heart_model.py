"""The heart's shadow on a chest film: a second network, for the worklist's estimate at a new site.

Sites differ most where the heart overlaps the lung field: some draw the lung behind the heart,
most stop at its border. How much such a site redraws a film depends on how big the heart is and
where it lies, which the lung mask alone hardly shows. This network (the default lung network,
taught JSRT's SCR heart masks by tools/train_heart.py; its card has its figures) outlines the heart
so the site's estimate (`workflow/site_quality`) can weigh it. It is not a lung model: it is not
registered, never listed among the models and never segments a case.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .model_loading import segmenter_from_weights
from .registry import DEFAULT_MODEL, Recipe, get_recipe
from .segmenter import Segmenter
from .weights_store import load_card, weights_dir, weights_path

HEART_MODEL = "heart"


def heart_recipe() -> Recipe:
    """The default's network (same size and speed), a heart target: no lung-specific augmentation
    (the 'severe' one draws large hearts and keeps the lung label) and no weight average (a few
    hundred steps from the lung weights)."""
    return replace(get_recipe(DEFAULT_MODEL), name=HEART_MODEL, title="Heart shadow (JSRT SCR heart masks)",
                   augmentation="robust", ema_decay=None, init_from=None, study={},
                   notes="The default lung network's weights fine-tuned on JSRT's SCR heart masks "
                         "(tools/train_heart.py); used only by the worklist's site estimate.")


@lru_cache(maxsize=2)
def _cached(directory: Path) -> Segmenter | None:
    path = weights_path(HEART_MODEL, directory)
    if not path.is_file():
        return None
    return segmenter_from_weights(heart_recipe(), path, card=load_card(HEART_MODEL, directory))


def load_heart_model(directory: Path | None = None) -> Segmenter | None:
    """The shipped heart network, or None where its weights are missing (the estimate then does
    without the heart)."""
    return _cached(Path(directory or weights_dir()))


def heart_mask(seg: Segmenter, image: np.ndarray) -> np.ndarray:
    """Bool HxW heart mask at the image's size: the largest connected piece above 0.5."""
    mask = (seg.predict_proba(image) >= 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
