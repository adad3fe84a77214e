"""Severe, realistic changes of the diseased chest drawn on a normal X-ray, with the lung label
unchanged: the lung stays the anatomical region whatever its density.

Real films from other hospitals show what Shenzhen and Montgomery barely do: dense consolidation
of a lobe or a whole lung (soft-tissue density, mottled, with dark air bronchograms), pleural
effusion (a dense base with a meniscus rising towards the chest wall, the costophrenic angle
lost), a white-out of a hemithorax, a large heart covering more lung, and AP projection (higher
diaphragm, wider heart). A model trained only on aerated lungs outlines the dark part and leaves
the rest out. These functions draw each change from the image's own grey levels (the
mediastinum's density is the "soft tissue" level), so they work at any size, bit depth or
exposure. They serve two purposes: `bench/severe_changes.py` (a robustness set from the val
split: Dice, and recall inside the changed region) and the `SevereLungChanges` augmentation.

All functions take a float image in [0, 1] and a lung mask (bool, or lung fractions), and return
(image, lung mask, changed region). Only `ap_projection` moves the anatomy, and it moves the
mask with it; every other change leaves the mask as it was.
"""
from __future__ import annotations

from typing import Any, Callable

import albumentations as A
import cv2
import numpy as np

from .device_drawing import DrawDevices

CHANGES = ("consolidation_lobe", "consolidation_lung", "effusion", "white_out", "cardiomegaly", "ap_projection")
Change = tuple[np.ndarray, np.ndarray, np.ndarray]


def lungs_of(mask: np.ndarray) -> list[np.ndarray]:
    """The two largest lung components, image-left first (the patient's right on a PA film)."""
    binary = (np.asarray(mask) > 0.5).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:2]
    lungs = [labels == i for i in order]
    return sorted(lungs, key=lambda m: float(np.nonzero(m)[1].mean()))


def _soft_tissue_level(image: np.ndarray, mask: np.ndarray) -> float:
    """Grey level of the mediastinum: the column between the lungs, over the lungs' height."""
    binary = np.asarray(mask) > 0.5
    rows = np.flatnonzero(binary.any(axis=1))
    cols = np.flatnonzero(binary.any(axis=0))
    if rows.size == 0:
        return float(np.percentile(image, 75))
    centre = int(cols.mean())
    half = max(2, (cols.max() - cols.min()) // 20)
    band = image[rows.min():rows.max() + 1, max(0, centre - half):centre + half + 1]
    band_mask = binary[rows.min():rows.max() + 1, max(0, centre - half):centre + half + 1]
    values = band[~band_mask]
    level = float(np.median(values)) if values.size else float(np.percentile(image, 75))
    lung_level = float(np.median(image[binary]))
    return max(level, lung_level + 0.15 * (1.0 - lung_level))  # clearly denser than aerated lung


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Zero-mean, unit-range noise with features about `scale` pixels wide (mottled texture)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), max(0.5, scale))
    return noise / (np.abs(noise).max() + 1e-6)


def _feather(region: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(cv2.GaussianBlur(region.astype(np.float32), (0, 0), max(0.5, sigma)), 0.0, 1.0)


def _bronchograms(region: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Thin branching dark lines inside `region`: air left in the bronchi of consolidated lung."""
    out = np.zeros(region.shape, np.uint8)
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return out.astype(bool)
    thickness = max(1, size // 256)
    step = max(2.0, size / 60)
    for _ in range(int(rng.integers(3, 8))):
        i = int(rng.integers(ys.size))
        y, x = float(ys[i]), float(xs[i])
        angle = rng.uniform(0.3, 2.8)  # mostly downwards, as the bronchi run from the hilum
        for _segment in range(int(rng.integers(4, 10))):
            ny, nx = y + step * np.sin(angle), x + step * np.cos(angle)
            cv2.line(out, (int(x), int(y)), (int(nx), int(ny)), 1, thickness)
            y, x = ny, nx
            angle += rng.normal(0, 0.35)
            if not (0 <= int(y) < region.shape[0] and 0 <= int(x) < region.shape[1]) or not region[int(y), int(x)]:
                break
    return (out > 0) & region


def _opacify(image: np.ndarray, region: np.ndarray, level: float, rng: np.random.Generator, density: float,
             texture: float, air: bool) -> tuple[np.ndarray, np.ndarray]:
    """Blend `region` towards soft-tissue density with mottled texture (and air bronchograms)."""
    size = max(image.shape)
    alpha = _feather(region, size / 100) * density
    target = level * (1.0 + texture * _smooth_noise(image.shape, rng, size / 60))
    if air:
        bronchi = _feather(_bronchograms(region, rng, size), size / 400)
        target = target * (1.0 - 0.35 * bronchi)
    out = image * (1.0 - alpha) + np.clip(target, 0.0, 1.0) * alpha
    return np.clip(out, 0.0, 1.0).astype(np.float32), alpha > 0.25


def _one_lung(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    lungs = lungs_of(mask)
    return lungs[int(rng.integers(len(lungs)))] if lungs else None


def consolidation(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, whole: bool = False) -> Change:
    """A consolidated lower/middle lobe (irregular upper edge), or a whole lung."""
    lung = _one_lung(mask, rng)
    if lung is None:
        return image, mask, np.zeros(image.shape, bool)
    region = lung
    if not whole:
        ys = np.nonzero(lung)[0]
        top, bottom = ys.min(), ys.max()
        cut = bottom - rng.uniform(0.35, 0.7) * (bottom - top)
        rows = np.arange(image.shape[0], dtype=np.float32)[:, None]
        wobble = _smooth_noise(image.shape, rng, max(image.shape) / 20) * 0.12 * (bottom - top)
        region = lung & (rows + wobble > cut)
    out, changed = _opacify(image, region, _soft_tissue_level(image, mask), rng, rng.uniform(0.7, 0.95),
                            texture=0.12, air=True)
    return out, mask, changed & lung


def effusion(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Change:
    """Fluid at a lung base: dense, homogeneous, with a meniscus rising towards the chest wall."""
    lung = _one_lung(mask, rng)
    if lung is None:
        return image, mask, np.zeros(image.shape, bool)
    ys, xs = np.nonzero(lung)
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    centre_x = image.shape[1] / 2
    lateral_x = xs.min() if xs.mean() < centre_x else xs.max()
    medial_x = xs.max() if xs.mean() < centre_x else xs.min()
    cols = np.arange(image.shape[1], dtype=np.float32)[None, :]
    t = np.clip((cols - medial_x) / (lateral_x - medial_x + 1e-6), 0.0, 1.0)  # 0 medial .. 1 lateral
    level_y = bottom - rng.uniform(0.2, 0.5) * height - rng.uniform(0.1, 0.2) * height * t ** 2
    rows = np.arange(image.shape[0], dtype=np.float32)[:, None]
    grown = cv2.dilate(lung.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, image.shape[0] // 128)) > 0
    region = grown & (rows >= level_y)
    soft = max(1.0, 0.04 * height)
    ramp = np.clip((rows - level_y) / soft, 0.0, 1.0)  # the meniscus thins out upwards
    out, changed = _opacify(image, region, _soft_tissue_level(image, mask) * 1.05, rng, rng.uniform(0.85, 1.0),
                            texture=0.03, air=False)
    out = image + (out - image) * np.where(region, ramp, 1.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32), mask, changed & lung


def white_out(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Change:
    """A hemithorax opaque from apex to base (collapse, massive effusion or consolidation)."""
    lung = _one_lung(mask, rng)
    if lung is None:
        return image, mask, np.zeros(image.shape, bool)
    grown = cv2.dilate(lung.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, image.shape[0] // 100)) > 0
    out, changed = _opacify(image, grown, _soft_tissue_level(image, mask) * 1.05, rng, rng.uniform(0.88, 0.98),
                            texture=0.05, air=bool(rng.random() < 0.5))
    return out, mask, changed & lung


def _heart(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    binary = np.asarray(mask) > 0.5
    ys, xs = np.nonzero(binary)
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    width, height = right - left, bottom - top
    centre = (int((left + right) / 2 + 0.08 * width), int(top + 0.68 * height))  # towards the patient's left
    axes = (int(scale * width * rng.uniform(0.9, 1.1)), int(0.22 * height * rng.uniform(0.9, 1.1)))
    heart = np.zeros(image.shape, np.uint8)
    cv2.ellipse(heart, centre, axes, float(rng.uniform(-15, 5)), 0, 360, 1, -1)
    return heart > 0


def cardiomegaly(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Change:
    """A large heart shadow over the medial parts of both lungs (cardiothoracic ratio ~0.6-0.7)."""
    binary = np.asarray(mask) > 0.5
    if not binary.any():
        return image, mask, np.zeros(image.shape, bool)
    heart = _heart(image, mask, rng, scale=rng.uniform(0.3, 0.36))
    out, changed = _opacify(image, heart, _soft_tissue_level(image, mask), rng, rng.uniform(0.8, 0.95),
                            texture=0.03, air=False)
    return out, mask, changed & binary


def ap_projection(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> Change:
    """AP/supine look: the diaphragm higher (the lower chest squeezed upwards, mask moved with it)
    and a wider heart shadow."""
    binary = np.asarray(mask) > 0.5
    if not binary.any():
        return image, mask, np.zeros(image.shape, bool)
    h, w = image.shape
    ys = np.nonzero(binary)[0]
    top, bottom = ys.min(), ys.max()
    pivot = top + 0.35 * (bottom - top)
    squeeze = rng.uniform(1.12, 1.3)  # lower lung fields 12-30 % shorter
    rows = np.arange(h, dtype=np.float32)
    source = np.where(rows < pivot, rows, pivot + (rows - pivot) * squeeze)
    map_y = np.repeat(np.clip(source, 0, h - 1)[:, None], w, axis=1).astype(np.float32)
    map_x = np.repeat(np.arange(w, dtype=np.float32)[None, :], h, axis=0)
    warped = cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    m = np.asarray(mask)
    binary = m.dtype == bool or bool(np.all((m == 0) | (m == 1)))  # binary masks stay binary, fractions stay soft
    warped_mask = cv2.remap(m.astype(np.float32), map_x, map_y, cv2.INTER_NEAREST if binary else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    warped_mask = warped_mask > 0.5 if m.dtype == bool else warped_mask.astype(m.dtype)
    heart = _heart(warped, warped_mask, rng, scale=rng.uniform(0.26, 0.31))
    out, changed = _opacify(warped, heart, _soft_tissue_level(warped, warped_mask), rng, rng.uniform(0.75, 0.9),
                            texture=0.03, air=False)
    return out, warped_mask, changed & (np.asarray(warped_mask) > 0.5)


_FUNCTIONS: dict[str, Callable[..., Change]] = {
    "consolidation_lobe": consolidation,
    "consolidation_lung": lambda image, mask, rng: consolidation(image, mask, rng, whole=True),
    "effusion": effusion, "white_out": white_out, "cardiomegaly": cardiomegaly, "ap_projection": ap_projection,
}


def apply_change(name: str, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 devices: bool = False) -> Change:
    """One named change (see CHANGES), optionally with lines, leads and a pacemaker drawn on top."""
    if name not in _FUNCTIONS:
        raise KeyError(f"unknown change {name!r}; valid: {', '.join(CHANGES)}")
    out, new_mask, changed = _FUNCTIONS[name](np.asarray(image, np.float32), mask, rng)
    if devices:
        draw = DrawDevices(p=1.0)
        draw.set_random_seed(int(rng.integers(2 ** 31)))
        out = draw(image=out)["image"]
    return out, new_mask, changed


class SevereLungChanges(A.DualTransform):
    """Training augmentation: one severe change (optionally two) drawn on the image; the mask is
    moved only by the AP projection's warp, never cut back to the aerated part."""

    def __init__(self, changes: tuple[str, ...] = CHANGES, p: float = 0.35) -> None:
        super().__init__(p=p)
        self.changes = changes

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        rng = np.random.default_rng(int(self.random_generator.integers(2 ** 31)))
        image, mask = data["image"], data["mask"]
        for _ in range(1 + int(rng.random() < 0.25)):
            image, mask, _changed = apply_change(self.changes[int(rng.integers(len(self.changes)))], image, mask, rng)
        return {"new_image": image, "new_mask": mask, "lung_mask": data["mask"]}

    def apply(self, img: np.ndarray, new_image: np.ndarray, **params: Any) -> np.ndarray:
        return new_image.astype(img.dtype, copy=False)

    def apply_to_mask(self, mask: np.ndarray, new_mask: np.ndarray, lung_mask: np.ndarray | None = None,
                      **params: Any) -> np.ndarray:
        if lung_mask is not None and mask is not lung_mask:
            return mask  # another mask target (the replay's spared zone, `dataset`) stays as it was
        return np.asarray(new_mask).astype(mask.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("changes",)
