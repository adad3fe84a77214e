"""Reading a data folder: manifest rules, in-memory model-size tensors, soft targets."""
import pytest
import torch

from lungseg_core.learning.dataset import SegmentationDataset, read_manifest

from .conftest import SAMPLES


def test_manifest_split_limit_and_missing_file(tmp_path):
    assert len(read_manifest(SAMPLES)) == 4
    assert [c.split for c in read_manifest(SAMPLES, "test")] == ["test"] * len(read_manifest(SAMPLES, "test"))
    assert len(read_manifest(SAMPLES, limit=2)) == 2
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("soft", [False, True])
def test_items_are_model_size_tensors(soft):
    ds = SegmentationDataset(read_manifest(SAMPLES), 64, 3, "robust", soft_targets=soft, keep_full_masks=True)
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and y.shape == (1, 64, 64) and x.dtype == y.dtype == torch.float32
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    fractional = bool(((ds.masks[0] > 0) & (ds.masks[0] < 1)).any())
    assert fractional == soft
    assert ds.full_masks is not None and ds.full_masks[0].shape == (512, 512)
