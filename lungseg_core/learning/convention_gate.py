"""A gate that tells a site's drawing convention from damage.

A hospital whose annotators draw the lung behind the heart corrects the model there, film after
film. A fine-tune that learns it then "loses" Dice on the original validation split *there*, because
the original references stop at the heart border: judged by the old convention, the gain looks like
damage. This module separates the two:

- **The convention map** (`learn_convention`): where the site's corrections systematically differ
  from what the parent model drew. Each film is put in chest-normalised coordinates (the parent's
  lung box, with a margin, resized to GRID x GRID, so lungs of every size and position line up) and
  the signed difference corrected - parent is averaged: +1 where every film gained lung, -1 where
  every film lost it. Cells where at least ZONE_SHARE of the films changed the same way form the
  site's *add* and *remove* zones. Learnt from the training corrections only; judged on the others.
- **Whether the corrections are systematic** (`share_in_zone`): the part of the held-back
  corrections' disagreement with the parent that lies in the zones, in the zones' direction. A real
  convention puts most of it there; random shifts, erosions, other films' masks or random blobs do
  not, and then the zones excuse nothing (the classic bound on the whole validation split applies).
- **The change on the original validation split, split in two** (`split_change`): the candidate's
  mask with its convention-consistent changes (added pixels in the add zone, removed ones in the
  remove zone) undone is the candidate *outside the map*. Its loss against the parent is forgetting
  and must stay within the tolerance; the rest of the drop is the site's convention.
- **Hard failures** (`hard_failures`): no lung, one lung, lungs cut by the border, holes. Counted on
  the original val split and on the held-back corrections; they must not rise.
- **The held-back corrections' gain, with an interval** (`bootstrap_interval`): the mean gain's 95 %
  percentile-bootstrap interval must lie above zero.

All of it is plain NumPy/OpenCV on masks, so every rule is tested without training anything.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

from ..imaging.convention_map import (GRID, MARGIN, ConventionMap, chest_frame, from_chest,  # noqa: F401 (re-exported)
                                      learn_convention, map_picture, outside_the_map, share_in_zone, to_chest)
from ..imaging.lung_measurements import LEFT, RIGHT, split_lungs
from ..workflow.mask_quality import dice, hole_share

MIN_SYSTEMATIC_SHARE = 0.60  # of the held-back disagreement inside the zones: a systematic convention
MIN_DISAGREEMENT = 0.02  # mean 1 - Dice(parent, corrected) below this: the site draws as we do, no map
FORGETTING_TOLERANCE = 0.002  # the candidate outside the map may lose at most this much val Dice
BOOTSTRAP_SAMPLES = 2000
MIN_LUNG_SHARE = 0.02  # of the image: less is "no lung"
MIN_SECOND_LUNG = 0.15  # the smaller lung below this share of the larger: "one lung"
MAX_BORDER_SHARE = 0.05  # share of the outline on the image's edge: "cut by the border"
MAX_HOLE_SHARE = 0.005  # enclosed background over lung area: "holes"
MIN_ISLAND_SHARE = 0.01  # a third piece this big (of the mask) or more: "islands"
MAX_FAILED_CORRECTIONS = 0.10  # corrections that are themselves failed masks: more than this share, refuse


def split_change(parent: np.ndarray, candidate: np.ndarray, reference: np.ndarray,
                 cmap: ConventionMap) -> tuple[float, float, float]:
    """Dice against the reference of (parent, candidate, candidate outside the map)."""
    reference = np.asarray(reference, bool)
    return (dice(parent, reference), dice(candidate, reference),
            dice(outside_the_map(parent, candidate, cmap), reference))


# -- hard failures -----------------------------------------------------------------------------------------
def hard_failures(mask: np.ndarray) -> list[str]:
    """What no reader would accept: no lung, one lung, islands, lungs cut by the border, holes."""
    mask = np.asarray(mask, bool)
    if mask.sum() < MIN_LUNG_SHARE * mask.size:
        return ["no lung"]
    found = []
    labels = split_lungs(mask)
    areas = sorted(((labels == k).sum() for k in (RIGHT, LEFT)), reverse=True)
    if areas[1] < MIN_SECOND_LUNG * areas[0]:
        found.append("one lung")
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    pieces = sorted(stats[1:, cv2.CC_STAT_AREA], reverse=True)
    if len(pieces) > 2 and pieces[2] >= MIN_ISLAND_SHARE * mask.sum():
        found.append("islands")
    m = mask.astype(np.uint8)
    outline = mask & ~cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                                borderValue=0).astype(bool)  # (erode's default border counts as lung)
    edge = np.zeros_like(mask)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    if (outline & edge).sum() > MAX_BORDER_SHARE * max(1, outline.sum()):
        found.append("cut by the border")
    if hole_share(mask) > MAX_HOLE_SHARE:
        found.append("holes")
    return found


def failure_count(masks: Sequence[np.ndarray]) -> int:
    return sum(bool(hard_failures(m)) for m in masks)


# -- the held-back corrections' gain ----------------------------------------------------------------------------
def bootstrap_interval(values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    means = np.random.default_rng(seed).choice(v, (samples, v.size), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


# -- is it a convention? -------------------------------------------------------------------------------------
def convention_test(cmap: ConventionMap, holdout_parent: Sequence[np.ndarray], holdout_corrected: Sequence[np.ndarray]
                    ) -> tuple[float, float, bool]:
    """(disagreement, systematic share, honoured): the held-back corrections' mean 1 - Dice against
    the parent's masks, the share of that disagreement inside the map's zones in their direction,
    and whether the map is a drawing convention the gate honours (a non-empty map, corrections that
    differ by at least MIN_DISAGREEMENT, at least MIN_SYSTEMATIC_SHARE of it in the zones)."""
    if not holdout_corrected:
        return 0.0, 0.0, False
    disagreement = 1.0 - float(np.mean([dice(p, c) for p, c in zip(holdout_parent, holdout_corrected)]))
    inside = total = 0
    for p, c in zip(holdout_parent, holdout_corrected):
        i, t = share_in_zone(p, c, cmap)
        inside, total = inside + i, total + t
    systematic = inside / total if total else 0.0
    honoured = not cmap.empty and disagreement >= MIN_DISAGREEMENT and systematic >= MIN_SYSTEMATIC_SHARE
    return disagreement, systematic, honoured


# -- the decision -----------------------------------------------------------------------------------------------
@dataclass
class SiteEvidence:
    """What the gate reads. Masks are boolean arrays of each film, in the same order per list."""

    train_parent: list[np.ndarray]       # parent's masks of the training corrections' films
    train_corrected: list[np.ndarray]    # the site's corrections of them
    holdout_parent: list[np.ndarray]     # parent's masks of the held-back corrections' films
    holdout_candidate: list[np.ndarray]
    holdout_corrected: list[np.ndarray]
    val_parent: list[np.ndarray]         # the original validation split
    val_candidate: list[np.ndarray]
    val_reference: list[np.ndarray]


@dataclass
class SiteVerdict:
    promote: bool
    decided: bool
    reason: str
    next_step: str
    holdout_n: int
    holdout_parent_dice: float | None = None
    holdout_candidate_dice: float | None = None
    holdout_gain_interval: tuple[float, float] | None = None
    val_parent_dice: float | None = None
    val_candidate_dice: float | None = None
    val_outside_map_dice: float | None = None
    forgetting: float | None = None           # val Dice lost outside the map
    convention_change: float | None = None    # val Dice change inside the map (the site's convention)
    systematic_share: float | None = None     # held-back disagreement inside the map
    map_used: bool = False
    failures: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["holdout_gain_interval"] = list(self.holdout_gain_interval) if self.holdout_gain_interval else None
        return d


def judge_site(ev: SiteEvidence, cmap: ConventionMap | None = None, min_holdout: int = 10,
               tolerance: float = FORGETTING_TOLERANCE) -> tuple[SiteVerdict, ConventionMap]:
    """Recommend a fine-tune for this site only if its team's held-back corrections gain (interval
    above zero), it forgets no more than `tolerance` outside the site's convention map on the
    original validation split, and no hard failure rises there or on the held-back corrections."""
    cmap = cmap or learn_convention(ev.train_parent, ev.train_corrected)
    n = len(ev.holdout_corrected)
    if n < min_holdout or not ev.val_reference:
        missing = []
        if not ev.val_reference:
            missing.append("the validation split (give the base data with its manifest.csv)")
        if n < min_holdout:
            missing.append(f"at least {min_holdout} held-back corrections (have {n})")
        return SiteVerdict(False, False, "not decided: the gate needs " + " and ".join(missing),
                           "approve more corrections (or give the base data) and retrain; do not promote on "
                           "this evidence", n), cmap
    hp = [dice(p, c) for p, c in zip(ev.holdout_parent, ev.holdout_corrected)]
    hc = [dice(k, c) for k, c in zip(ev.holdout_candidate, ev.holdout_corrected)]
    low, high = bootstrap_interval(np.subtract(hc, hp))
    disagreement, systematic, use_map = convention_test(cmap, ev.holdout_parent, ev.holdout_corrected)
    scored = [split_change(p, k, r, cmap) if use_map else (dice(p, r), dice(k, r), dice(k, r))
              for p, k, r in zip(ev.val_parent, ev.val_candidate, ev.val_reference)]
    vp, vc, vo = (float(np.mean([s[i] for s in scored])) for i in range(3))
    forgetting = vp - vo
    failures = {"val": {"parent": failure_count(ev.val_parent), "candidate": failure_count(ev.val_candidate)},
                "holdout": {"parent": failure_count(ev.holdout_parent),
                            "candidate": failure_count(ev.holdout_candidate)}}
    verdict = SiteVerdict(False, True, "", "", n, float(np.mean(hp)), float(np.mean(hc)), (low, high), vp, vc, vo,
                          forgetting, vo - vc, systematic, use_map, failures)
    refusals = []
    corrections = [*ev.train_corrected, *ev.holdout_corrected]
    failed_corrections = failure_count(corrections)
    failures["corrections"] = {"failed": failed_corrections, "of": len(corrections)}
    if failed_corrections > MAX_FAILED_CORRECTIONS * len(corrections):
        refusals.append(f"{failed_corrections} of your team's {len(corrections)} corrections are themselves masks no "
                        "reader would accept (holes, islands, one lung, cut by the border): look at them on Review")
    if not low > 0:
        refusals.append(f"your team's held-back corrections do not gain for sure ({np.mean(hp):.3f} -> "
                        f"{np.mean(hc):.3f}, 95 % interval {low:+.3f} to {high:+.3f})")
    if forgetting > tolerance:
        where = "outside the map of your team's convention" if use_map else "on the original validation split"
        refusals.append(f"it forgets {forgetting:.4f} Dice {where} (at most {tolerance} allowed)")
    for split, words in (("val", "the original validation films"), ("holdout", "your held-back corrections")):
        f = failures[split]
        if f["candidate"] > f["parent"]:
            refusals.append(f"more failed masks (no lung, one lung, cut, holes) on {words}: "
                            f"{f['parent']} -> {f['candidate']}")
    if disagreement >= MIN_DISAGREEMENT and not use_map:
        note = (f"your corrections differ from the model's masks by {disagreement:.3f} Dice, but only "
                f"{systematic:.0%} of it in one consistent place, so it is not treated as a drawing convention")
    elif use_map:
        note = (f"differs from the original training references by {vp - vc:+.3f} Dice, {vo - vc:+.3f} of it where "
                f"your team's corrections systematically change the lung ({systematic:.0%} of their changes "
                "fall in that map)")
    else:
        note = f"your team draws as the original references do (corrections differ by {disagreement:.3f} Dice)"
    gain = (f"agrees with your team's held-back corrections {np.mean(hp):.3f} -> {np.mean(hc):.3f} "
            f"(95 % interval {low:+.3f} to {high:+.3f}, {n} films)")
    if refusals:
        verdict.reason = "Not recommended: " + "; ".join(refusals) + f". ({note}.)"
        verdict.next_step = ("keep the current default; look at the held-back cases it got worse on, and at "
                             "corrections that may belong to other films or be misaligned")
    else:
        verdict.promote = True
        verdict.reason = (f"Recommended for this site: {gain}; {note}; forgetting elsewhere {forgetting:+.4f}; "
                          "no new failed masks")
        verdict.next_step = "promote it if the films below look right to you"
    return verdict, cmap
