"""Devices drawn over an X-ray for training (wires, electrodes, a pacemaker-like box): an
augmentation of its own, used by the training pipelines and by the severe-change set."""
from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np


class DrawDevices(A.ImageOnlyTransform):
    """Radio-opaque lines (ECG leads, lines, tubes), electrode rings and a pacemaker-like box drawn
    over the image; the lung mask is left as it is, because the lung lies under them."""

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = data["image"].shape[:2]
        rng = self.random_generator
        wires = []
        for _ in range(int(rng.integers(1, 5))):
            pts = np.stack([np.linspace(rng.uniform(0, w), rng.uniform(0, w), 6),
                            np.linspace(rng.uniform(0, h / 3), rng.uniform(h / 2, h), 6)], axis=1)
            pts += rng.normal(0, 0.025 * w, pts.shape)
            wires.append((pts.astype(np.int32), int(rng.integers(1, max(2, w // 80) + 1))))
        rings = [(int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.9) * h), int(rng.integers(3, max(4, w // 40))))
                 for _ in range(int(rng.integers(0, 4)))]
        box = None
        if rng.random() < 0.3:
            x, y = int(rng.uniform(0.1, 0.8) * w), int(rng.uniform(0.1, 0.4) * h)
            box = (x, y, x + int(rng.uniform(0.05, 0.1) * w), y + int(rng.uniform(0.04, 0.08) * h))
        return {"wires": wires, "rings": rings, "box": box, "level": float(rng.uniform(0.85, 1.0))}

    def apply(self, img: np.ndarray, wires: list, rings: list, box: tuple | None, level: float,
              **params: Any) -> np.ndarray:
        out = np.ascontiguousarray(img.copy())
        for pts, thickness in wires:
            cv2.polylines(out, [pts], False, level, thickness=thickness)
        for x, y, r in rings:
            cv2.circle(out, (x, y), r, level, thickness=max(1, r // 3))
        if box is not None:
            cv2.rectangle(out, box[:2], box[2:], level, thickness=-1)
        return out
