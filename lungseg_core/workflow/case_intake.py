"""Make this X-ray a segmented case: the one way, for the Segment and Correct pages and any caller.

The X-ray is added to the worklist (or found there: the same pixels are one case) and, if the case
has no mask yet, its mask and quality are stored from the result the caller already has (the page
computed it with `case_segmentation.analyse`) or from one run of `seg`; the estimate is the site's
own where it has one (`site_quality`), as batch segmentation gives."""
from __future__ import annotations

import numpy as np

from ..models.segmenter import Segmenter
from ..people.access_control import User
from .case_segmentation import CaseSegmentation, analyse
from .site_quality import SiteEstimate
from .worklist import Case, Worklist, case_quality


def make_case(worklist: Worklist, pixels: np.ndarray, actor: User, seg: Segmenter, label: str | None = None,
              pixel_spacing_mm: tuple[float, float] | None = None,
              result: CaseSegmentation | None = None) -> tuple[Case, bool]:
    """(the case, True if it was new). `result`, when given, must be `seg`'s analysis of `pixels`."""
    case, created = worklist.add_case(pixels, actor, label, pixel_spacing_mm)
    if case.mask_hash is None:
        result = result if result is not None else analyse(seg, pixels)
        quality = SiteEstimate(worklist.store.root, seg.name).quality(
            case_quality(result, case.pixel_spacing_mm), result.signals, result.mask, pixels)
        worklist.set_segmentation(case.number, result.mask, quality, seg.name, seg.version, actor)
        case = worklist.get(case.number)
    return case, created
