"""Segment a worklist's cases without a mask, a few images per forward pass, storing each case as its batch
is done: the work itself, whoever runs it (the background job in `batch_segmentation`, the command line,
a cluster's workers in `cluster_segmentation`)."""
from __future__ import annotations

import time
from typing import Any, Callable

from ..people.access_control import User, require
from ..people.audit import AuditLog
from ..storage.database import StoreError
from .case_segmentation import segment_batch
from .site_quality import SiteEstimate
from .worklist import Worklist, case_quality

BATCH = 8


def segment_cases(worklist: Worklist, seg: Any, actor: User, numbers: list[int] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_progress: Callable[[dict[str, Any]], None] | None = None, batch: int = BATCH) -> dict[str, Any]:
    """Segment the cases without a mask (or `numbers`), BATCH images per forward pass."""
    require(actor, "segment")
    todo = [c for c in worklist.list_cases() if c.mask_hash is None and (numbers is None or c.number in numbers)]
    done, skipped, failed, started = 0, 0, [], time.perf_counter()
    site = SiteEstimate(worklist.store.root, seg.name)  # this site's own estimate, once it has one
    for start in range(0, len(todo), batch):
        if should_stop is not None and should_stop():
            break
        chunk, images = [], []
        for case in todo[start:start + batch]:
            try:
                images.append(worklist.store.load_image(case.image_hash))
                chunk.append(case)
            except StoreError as exc:
                failed.append((case.number, str(exc)))
        for case, image, result in zip(chunk, images, segment_batch(seg, images)):
            quality = site.quality(case_quality(result, case.pixel_spacing_mm), result.signals, result.mask, image)
            if worklist.set_segmentation(case.number, result.mask, quality, seg.name, seg.version, actor,
                                         only_if_new=True):
                done += 1
            else:
                skipped += 1
        if on_progress:
            on_progress({"done": done, "total": len(todo), "failed": len(failed),
                         "per_second": done / max(1e-9, time.perf_counter() - started)})
    summary = {"done": done, "total": len(todo), "failed": failed, "seconds": time.perf_counter() - started,
               "model": seg.name, "stopped": done + skipped + len(failed) < len(todo), "skipped": skipped}
    if done or failed:
        AuditLog(worklist.database).append(actor.username, "cases_segmented", f"{done} cases",
                                          {"model": seg.name, "failed": len(failed)})
    return summary
