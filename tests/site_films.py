"""A synthetic site for tests: what the model draws, and what a site that draws the lung behind the
heart approves; quality signals of a confident model."""
from __future__ import annotations

import cv2
import numpy as np

from lungseg_core.workflow.mask_quality import QualitySignals

SIGNALS = QualitySignals(view_agreement=0.99, edge_uncertainty=1.5, soft_dice=0.96, lungs=2, right_left_ratio=1.1,
                         lung_share=0.25, hole_share=0.0, solidity=0.9, border_share=0.0, removed_share=0.0,
                         uncertain_sides={})


def drawn_and_site_masks(dx: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    """(what the model draws, what this site approves: the lung behind the heart too), 128 x 128."""
    m = np.zeros((128, 128), np.uint8)
    cv2.ellipse(m, (40 + dx, 64), (int(16 * s), int(40 * s)), 0, 0, 360, 1, -1)
    cv2.ellipse(m, (88 + dx, 64), (int(14 * s), int(38 * s)), 0, 0, 360, 1, -1)
    site = m.copy()
    cv2.ellipse(site, (76 + dx, 84), (int(10 * s), int(14 * s)), 0, 0, 360, 1, -1)
    return m.astype(bool), site.astype(bool)
