"""The one inference task: an X-ray's mask, its probability and uncertainty maps, and what the
model's own views say about the mask (quality signals, estimated Dice, flags), from one pass.
Segment, Correct, Compare, the worklist and batch segmentation all use it (`analyse`,
`segment_batch`), so a case's mask is the mask its page showed, and `make_case` turns an X-ray into
a segmented case without running the model again for a result it already has.

Each image is seen three ways in one batch (as is, flipped left-right, and shifted-and-scaled by a
few per cent), each view mapped back onto the image. The mask follows the model's own inference
setting (view 0, or the flip mean when its recipe uses flip TTA), so it is exactly what Segment
shows; the other views only feed the quality signals (`mask_quality`) and the estimated Dice
(`quality_estimate`). Several images go through the network together (fewer, larger matrix
products are faster on 2 cores than one image at a time).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from .mask_quality import QualitySignals, flags, quality_signals
from ..imaging.preprocessing import prepare_input, resize_probability, to_gray
from .quality_estimate import estimate_dice
from ..models.segmenter import Segmenter

#: The small transform: scale 0.94 about the centre, shifted 3 % right and 2 % down.
SHIFT_SCALE = (0.94, 0.03, 0.02)


def _shift_scale(size: int) -> tuple[np.ndarray, np.ndarray]:
    scale, dx, dy = SHIFT_SCALE
    forward = cv2.getRotationMatrix2D((size / 2, size / 2), 0.0, scale)
    forward[:, 2] += (dx * size, dy * size)
    return forward, cv2.invertAffineTransform(forward)


@dataclass
class CaseSegmentation:
    mask: np.ndarray            # bool, the image's own size, post-processed
    signals: QualitySignals
    estimated_dice: float
    flags: list[str]
    model: str = ""
    probability: np.ndarray | None = None  # float32 (or uint8 when cached) HxW: what the mask was cut from
    uncertainty: np.ndarray | None = None  # HxW, flip-TTA disagreement |p - p_flipped|
    seconds: float = 0.0  # this image's share of the batch's time


def model_views(seg: Segmenter, grays: list[np.ndarray]) -> np.ndarray:
    """N images -> N x 3 x S x S probabilities (plain, flipped, shift-scaled), mapped back."""
    size = seg.recipe.input_size
    forward, inverse = _shift_scale(size)
    inputs = []
    for gray in grays:
        x = prepare_input(gray, size)
        shifted = cv2.warpAffine(x, forward, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inputs += [x, np.ascontiguousarray(x[:, ::-1]), shifted]
    probs = seg.forward_model_size(np.stack(inputs)).reshape(len(grays), 3, size, size)
    probs[:, 1] = probs[:, 1][:, :, ::-1]
    for i in range(len(grays)):
        probs[i, 2] = cv2.warpAffine(probs[i, 2], inverse, (size, size), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
    return probs


def segment_batch(seg: Segmenter, images: Iterable[np.ndarray]) -> list[CaseSegmentation]:
    """Masks, maps, signals, estimated Dice and flags for a few images at once."""
    started = time.perf_counter()
    grays = [to_gray(np.asarray(im)) for im in images]
    if not grays:
        return []
    views = model_views(seg, grays)
    out = []
    for gray, v in zip(grays, views):
        own = v[:2].mean(axis=0) if seg.recipe.tta_flip else v[0]
        probability = resize_probability(own, gray.shape)
        mask = Segmenter.mask_from_probability(probability)
        small = Segmenter.mask_from_probability(own)
        signals = quality_signals(v, raw_mask=own >= 0.5, mask=small)
        out.append(CaseSegmentation(mask=mask, signals=signals, estimated_dice=estimate_dice(signals),
                                    flags=flags(signals), model=seg.name, probability=probability,
                                    uncertainty=resize_probability(np.abs(v[0] - v[1]), gray.shape)))
    share = (time.perf_counter() - started) / len(out)
    for result in out:
        result.seconds = share
    return out


def analyse(seg: Segmenter, image: np.ndarray) -> CaseSegmentation:
    """One X-ray through the one inference task."""
    return segment_batch(seg, [image])[0]
