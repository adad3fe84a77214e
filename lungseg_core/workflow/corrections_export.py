"""Exports of reviewed corrections: a zip in the training-data layout (images/, masks/,
manifest.csv with a split column; `python -m lungseg_core train --data <unzipped folder>` reads
it as it is) and COCO JSON with run-length-encoded masks."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from typing import Any

import numpy as np
from PIL import Image

from ..people.access_control import User
from ..people.audit import AuditLog, record
from .corrections_store import Correction, CorrectionsStore, StoreFileError

SOURCE = "corrections"


def latest_per_image(records: list[Correction]) -> list[Correction]:
    """One record per image: the newest (records may come in any order)."""
    best: dict[str, Correction] = {}
    for r in records:
        if r.image_hash not in best or r.created_at > best[r.image_hash].created_at:
            best[r.image_hash] = r
    return sorted(best.values(), key=lambda r: r.created_at)


def hash_bucket(key: str) -> float:
    """A number in [0, 1] fixed by `key` (a content hash or a case id): a stable random draw."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_for(image_hash: str, val_fraction: float) -> str:
    """Deterministic train/val assignment by image content, stable across exports."""
    return "val" if hash_bucket(image_hash) < val_fraction else "train"


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def export_training_zip(store: CorrectionsStore, actor: User, status: str = "approved",
                        val_fraction: float = 0.2) -> bytes:
    """What a reviewer downloads (reviewers and admins; audited): see `training_zip`."""
    data = training_zip(store, status, val_fraction)
    _record_export(store, actor, "training zip", status)
    return data


def _record_export(store: CorrectionsStore, actor: User, what: str, status: str) -> None:
    """The exports carry images: checked against the account as the store holds it now, and audited."""
    with AuditLog(store.database).change(actor, "export") as con:
        record(con, actor.username, "corrections_exported", what, {"status": status})


def training_zip(store: CorrectionsStore, status: str = "approved", val_fraction: float = 0.2) -> bytes:
    """Zip bytes: images/<id>.png, masks/<id>.png (0/255), manifest.csv (id, source, split, ...).
    Takes no user: it is the retraining job's own input, authorised (and audited) when an admin
    started the job; people get it through `export_training_zip`."""
    records = latest_per_image(store.list_corrections(status=status))
    buf = io.BytesIO()
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["id", "source", "split", "image_path", "mask_path", "model_name", "model_version",
                     "correction_id", "annotator", "status", "orig_width", "orig_height"])
    skipped: list[str] = []
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for r in records:
            case_id = f"corr_{r.image_hash[:16]}"
            image_path, mask_path = f"images/{case_id}.png", f"masks/{case_id}.png"
            try:
                image, mask = store.load_image(r.image_hash), store.load_mask(r.corrected_mask_hash)
            except StoreFileError as exc:  # a damaged record is left out and listed; the rest is exported
                skipped.append(f"{r.id}: {exc}")
                continue
            zf.writestr(image_path, _png(image))
            zf.writestr(mask_path, _png(mask.astype(np.uint8) * 255))
            writer.writerow([case_id, SOURCE, split_for(r.image_hash, val_fraction), image_path, mask_path,
                             r.model_name, r.model_version, r.id, r.annotator, r.status, r.width, r.height])
        zf.writestr("manifest.csv", manifest.getvalue())
        zf.writestr("README.txt", "LungSeg Studio corrections export "
                    f"({datetime.now(timezone.utc).isoformat(timespec='seconds')}), status={status}, "
                    f"{len(records) - len(skipped)} cases. Train with: "
                    "python -m lungseg_core train --data <this folder>\n")
        if skipped:
            zf.writestr("SKIPPED.txt",
                        "Records left out because a file is missing or damaged:\n" + "\n".join(skipped) + "\n")
    return buf.getvalue()


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE: counts of alternating 0/1 runs in column-major order, zeros first."""
    flat = np.asarray(mask, bool).flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    boundaries = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(boundaries).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    pos, value = 0, False
    for count in rle["counts"]:
        if value:
            flat[pos:pos + count] = True
        pos += count
        value = not value
    return flat.reshape((h, w), order="F")


def export_coco(store: CorrectionsStore, actor: User, status: str = "approved") -> dict[str, Any]:
    """COCO instance-segmentation JSON: one 'lung' annotation (both lungs) per image (reviewers and
    admins; audited)."""
    with AuditLog(store.database).change(actor, "export"):
        pass  # refuse before reading anything

    records = latest_per_image(store.list_corrections(status=status))
    images, annotations = [], []
    for i, r in enumerate(records, start=1):
        try:
            mask = store.load_mask(r.corrected_mask_hash)
            store.load_image(r.image_hash)  # the annotation names the image: both must be readable
        except StoreFileError:
            continue  # damaged record: left out, the rest is exported
        ys, xs = np.nonzero(mask)
        bbox = ([int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
                if xs.size else [0, 0, 0, 0])
        images.append({"id": i, "file_name": f"images/corr_{r.image_hash[:16]}.png", "width": r.width,
                       "height": r.height})
        annotations.append({"id": i, "image_id": i, "category_id": 1, "segmentation": rle_encode(mask),
                            "area": int(mask.sum()), "bbox": bbox, "iscrowd": 1,
                            "attributes": {"correction_id": r.id, "model_name": r.model_name,
                                           "annotator": r.annotator}})
    _record_export(store, actor, "COCO JSON", status)
    return {"info": {"description": "LungSeg Studio corrections",
                     "date_created": datetime.now(timezone.utc).isoformat()},
            "images": images, "annotations": annotations, "categories": [{"id": 1, "name": "lung"}]}


def export_coco_json(store: CorrectionsStore, actor: User, status: str = "approved") -> str:
    return json.dumps(export_coco(store, actor, status))
