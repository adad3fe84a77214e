import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lungseg_core import read_xray
from lungseg_core.workflow.corrections_store import StoreError, open_store
from lungseg_core.workflow.review_workflow import WorkflowError

from .dicom_factory import PATIENT_ID, make_dicom
from .people import ANN, ANN2, REV
from .store_backends import new_store, store_address

pytestmark = pytest.mark.usefixtures("store_backend")

ROOT = Path(__file__).resolve().parent.parent


def _case(seed: int = 0, shape=(64, 80)):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 4000, shape).astype(np.uint16)
    original = np.zeros(shape, bool)
    original[10:50, 10:35] = True
    corrected = original.copy()
    corrected[10:20, 10:35] = False
    return image, original, corrected


def test_round_trip_keeps_original_and_corrected_apart(tmp_path):
    store = new_store(tmp_path)
    image, original, corrected = _case()
    rec = store.save_correction(image, original, corrected, model_name="unet_lite0", model_version="abc123",
                                actor=ANN, note="trimmed apex", pixel_spacing_mm=(0.2, 0.3))
    got = store.get(rec.id)
    assert got == rec and got.status == "draft" and got.annotator == "ann" and got.case_label is None
    assert got.pixel_spacing_mm == (0.2, 0.3)
    assert np.array_equal(store.load_image(got.image_hash), image)
    assert np.array_equal(store.load_mask(got.original_mask_hash), original)
    assert np.array_equal(store.load_mask(got.corrected_mask_hash), corrected)
    assert got.original_mask_hash != got.corrected_mask_hash


def test_versions_chain_and_status_log(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}")
    image, original, corrected = _case()
    v1 = store.save_correction(image, original, corrected, model_name="m", model_version="1", actor=ANN)
    more = corrected.copy()
    more[40:45, 10:20] = False
    v2 = store.save_correction(image, original, more, model_name="m", model_version="1", actor=ANN2,
                               parent_id=v1.id, status="submitted")
    assert [r.id for r in store.history(v2.id)] == [v1.id, v2.id]
    assert np.array_equal(store.load_mask(store.get(v1.id).corrected_mask_hash), corrected)  # v1 untouched
    assert [r.id for r in store.list_corrections(latest_only=True)] == [v2.id]
    store.review(v2.id, "approve", actor=REV, note="good")
    assert [c.status for c in store.status_changes(v2.id)] == ["submitted", "approved"]
    assert [c.reviewer for c in store.status_changes(v2.id)] == ["amy", "rev"]
    assert [r.id for r in store.list_corrections(status="approved")] == [v2.id]
    assert [r.id for r in store.list_corrections(annotator="ann")] == [v1.id]
    with pytest.raises(WorkflowError, match="unknown review action"):
        store.review(v2.id, "maybe", actor=REV)
    with pytest.raises(StoreError, match="does not exist"):
        store.save_correction(image, original, corrected, model_name="m", model_version="1", actor=ANN,
                              parent_id="nope")
    other, o2, c2 = _case(seed=5)
    with pytest.raises(StoreError, match="same image"):
        store.save_correction(other, o2, c2, model_name="m", model_version="1", actor=ANN, parent_id=v1.id)
    with pytest.raises(StoreError, match="unsupported store URL"):
        open_store("mysql://db/lungs")
    with pytest.raises(StoreError, match="could not be reached"):  # a server that is not there: said at once
        open_store("postgresql://lungseg@127.0.0.1:1/lungs")


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {root!r})
    from lungseg_core.people.access_control import User
    from lungseg_core.workflow.corrections_store import open_store
    store = open_store(sys.argv[1])
    who, n = sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(abs(hash(who)) % 1000)
    for i in range(n):
        image = rng.integers(0, 255, (48, 48)).astype(np.uint8)
        mask = rng.random((48, 48)) > 0.5
        store.save_correction(image, mask, ~mask, model_name="m", model_version="1", note=str(i),
                              actor=User(who, frozenset(["annotator"])))
        print(i, flush=True)
""")


def test_two_processes_saving_at_once_lose_nothing(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(root=str(ROOT)))
    store_dir = tmp_path / "store"
    new_store(store_dir)
    procs = [subprocess.Popen([sys.executable, str(script), store_address(store_dir), who, "100"], stdout=subprocess.DEVNULL)
             for who in ("alice", "bob")]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    store = new_store(store_dir)
    records = store.list_corrections()
    assert len(records) == 200
    assert {r.annotator for r in records} == {"alice", "bob"}
    for r in records:  # every version readable
        assert store.load_mask(r.corrected_mask_hash).shape == (48, 48)
        assert store.load_image(r.image_hash).shape == (48, 48)


def test_kill_9_mid_save_leaves_a_readable_store(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(root=str(ROOT)))
    store_dir = tmp_path / "store"
    new_store(store_dir)
    proc = subprocess.Popen([sys.executable, str(script), store_address(store_dir), "carol", "100000"],
                            stdout=subprocess.PIPE, text=True)
    done = -1
    while done < 30:  # let it complete some saves, then kill it in the middle of others
        done = int(proc.stdout.readline())
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = new_store(store_dir)
    records = store.list_corrections()
    assert len(records) >= done + 1
    notes = {int(r.note) for r in records}
    assert set(range(done + 1)) <= notes  # every save that reported success is there
    for r in records:
        assert store.load_mask(r.original_mask_hash).shape == (48, 48)
        assert store.load_image(r.image_hash).shape == (48, 48)


def test_no_patient_identifiers_anywhere_in_the_store(tmp_path):
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    image = read_xray(make_dicom(pixels, spacing=(0.15, 0.15)))
    store = new_store(tmp_path)
    mask = np.zeros(image.shape, bool)
    mask[5:30, 5:30] = True
    store.save_correction(image.pixels, mask, mask, model_name="m", model_version="1", actor=ANN,
                          pixel_spacing_mm=image.pixel_spacing_mm)
    needles = [PATIENT_ID.encode(), b"Doe", b"Jane", b"19700101", b"General Hospital"]
    for path in store.iter_files():
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"identifier found in {path}"


def test_missing_or_damaged_files_flag_their_record_and_the_rest_keeps_working(tmp_path):
    import io
    import zipfile

    from lungseg_core.workflow.corrections_export import export_coco, export_training_zip
    from lungseg_core.workflow.corrections_store import StoreFileError

    store = new_store(tmp_path)
    good_image, o1, c1 = _case(seed=1)
    bad_image, o2, c2 = _case(seed=2)
    good = store.save_correction(good_image, o1, c1, model_name="m", model_version="1", actor=ANN, status="submitted")
    bad = store.save_correction(bad_image, o2, c2, model_name="m", model_version="1", actor=ANN, status="submitted")
    for r in (good, bad):
        store.review(r.id, "approve", actor=REV)
    store.blob_path(bad.image_hash).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(StoreFileError, match="damaged"):
        store.load_image(bad.image_hash)
    assert "damaged" in store.file_problem(store.get(bad.id)) and store.file_problem(store.get(good.id)) is None
    with zipfile.ZipFile(io.BytesIO(export_training_zip(store, REV, val_fraction=0.0))) as zf:
        assert len([n for n in zf.namelist() if n.startswith("masks/")]) == 1
        assert bad.id in zf.read("SKIPPED.txt").decode()
    assert len(export_coco(store, REV)["annotations"]) == 1
    store.blob_path(bad.image_hash).unlink()
    with pytest.raises(StoreFileError, match="missing"):
        store.load_image(bad.image_hash)


def test_a_refused_save_leaves_no_orphan_files(tmp_path):
    from lungseg_core.workflow.review_workflow import WorkflowError

    store = new_store(tmp_path)
    image, original, corrected = _case(seed=3)
    first = store.save_correction(image, original, corrected, model_name="m", model_version="1", actor=ANN,
                                  status="submitted")
    files = sorted(p.name for p in (tmp_path / "blobs").rglob("*.png"))
    other = corrected.copy()
    other[:5] = True  # a new mask file would be written for this save
    with pytest.raises(WorkflowError):
        store.save_correction(image, original, other, model_name="m", model_version="1", actor=ANN,
                              parent_id=first.id)  # refused: the parent waits for its review
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*.png")) == files


def test_a_locked_or_full_store_gives_a_clear_error(tmp_path, monkeypatch):
    import sqlite3

    store = new_store(tmp_path)
    image, original, corrected = _case(seed=4)

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("lungseg_core.workflow.corrections_store.check_not_held_by_other", locked)
    with pytest.raises(StoreError, match="could not be written .*database is locked"):
        store.save_correction(image, original, corrected, model_name="m", model_version="1", actor=ANN)
    assert store.list_corrections() == [] and not list((tmp_path / "blobs").rglob("*.png"))
    monkeypatch.undo()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("lungseg_core.workflow.corrections_store.os.fsync", full)
    with pytest.raises(StoreError, match="No space left on device"):
        store.save_correction(image, original, corrected, model_name="m", model_version="1", actor=ANN)
