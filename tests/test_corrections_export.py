import pytest
import csv
import io
import zipfile

import numpy as np
from PIL import Image

from lungseg_core.cli import main
from lungseg_core.workflow.corrections_export import export_coco, export_training_zip, rle_decode, rle_encode
from lungseg_core.models.samples import list_samples

from .people import ANN, REV
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")


def _store_with_samples(tmp_path):
    store = new_store(tmp_path / "store")
    ids = []
    for s in list_samples():
        image = np.asarray(Image.open(s.image_path))
        truth = np.asarray(Image.open(s.mask_path)) > 127
        rec = store.save_correction(image, truth, truth, model_name="unet_lite0", model_version="v1",
                                    actor=ANN, status="submitted")
        ids.append(rec.id)
    for i in ids[:3]:
        store.review(i, "approve", actor=REV)
    store.review(ids[3], "reject", actor=REV)
    return store


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    for mask in (rng.random((7, 5)) > 0.5, np.ones((3, 4), bool), np.zeros((2, 2), bool)):
        rle = rle_encode(mask)
        assert sum(rle["counts"]) == mask.size
        assert np.array_equal(rle_decode(rle), mask)
    assert rle_encode(np.array([[1, 0], [1, 1]], bool))["counts"] == [0, 2, 1, 1]


def test_zip_in_training_layout_is_trainable(tmp_path):
    store = _store_with_samples(tmp_path)
    data = export_training_zip(store, REV, val_fraction=0.0)
    folder = tmp_path / "export"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder)
    rows = list(csv.DictReader(open(folder / "manifest.csv")))
    assert len(rows) == 3 and {r["split"] for r in rows} == {"train"} and {r["status"] for r in rows} == {"approved"}
    mask = np.asarray(Image.open(folder / rows[0]["mask_path"]))
    assert set(np.unique(mask)) == {0, 255}
    code = main(["train", "--model", "unet_vanilla_bce", "--data", str(folder), "--out", str(tmp_path / "w"),
                 "--epochs", "1", "--max-steps", "1", "--size", "64", "--batch-size", "2", "--no-test"])
    assert code == 0 and (tmp_path / "w" / "unet_vanilla_bce.safetensors").is_file()


def test_coco_json(tmp_path):
    store = _store_with_samples(tmp_path)
    coco = export_coco(store, REV)
    assert len(coco["images"]) == 3 and coco["categories"] == [{"id": 1, "name": "lung"}]
    ann = coco["annotations"][0]
    mask = rle_decode(ann["segmentation"])
    assert mask.shape == (512, 512) and int(mask.sum()) == ann["area"] > 0
