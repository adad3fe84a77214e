"""Batch segmentation of the worklist: masks and quality stored per case, cancel and resume, the
background job's progress file, and the CLI's CSV and masks."""
import time

import numpy as np
import pytest
from PIL import Image

from lungseg_core import DEFAULT_MODEL, load_model
from lungseg_core.workflow import batch_segmentation as batch
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.cli import main as cli_main
from lungseg_core.storage.jobs import read_progress
from lungseg_core.models.samples import list_samples
from lungseg_core.workflow.worklist import Worklist

from .people import ANN, NOBODY
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")


@pytest.fixture(scope="module")
def seg():
    return load_model(DEFAULT_MODEL)


@pytest.fixture()
def worklist(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    wl = Worklist(new_store(tmp_path / "store"))
    for s in list_samples():
        image = np.asarray(Image.open(s.image_path))
        wl.add_case(image, ANN)
        wl.add_case(np.ascontiguousarray(image[:, ::-1]), ANN)  # mirrored: 8 cases
    return wl


def test_cases_get_mask_estimate_and_figures(worklist, seg):
    summary = batch.segment_cases(worklist, seg, ANN, batch=3)
    assert summary["done"] == 8 and not summary["failed"] and not summary["stopped"]
    for case in worklist.list_cases():
        assert case.status == "segmented" and case.model_name == DEFAULT_MODEL and case.model_version == seg.version
        mask = worklist.store.load_mask(case.mask_hash)
        image = worklist.store.load_image(case.image_hash)
        assert mask.shape == image.shape and np.array_equal(mask, seg.predict(image))  # what Segment shows
        assert 0.5 < case.estimated_dice <= 1.0 and isinstance(case.flags, list)
        assert case.quality["figures"]["right_area_px"] > 0 and case.quality["signals"]["lungs"] == 2


def test_cancel_then_resume_segments_each_case_once(worklist, seg):
    calls = []
    summary = batch.segment_cases(worklist, seg, ANN, batch=3, should_stop=lambda: len(calls) >= 1,
                                  on_progress=calls.append)
    assert summary["stopped"] and summary["done"] == 3
    first = {c.number: c.segmented_at for c in worklist.list_cases() if c.mask_hash}
    rest = batch.segment_cases(worklist, seg, ANN, batch=3)
    assert rest["done"] == 5 and rest["total"] == 5
    after = {c.number: c.segmented_at for c in worklist.list_cases()}
    assert all(after[n] == t for n, t in first.items()) and len(after) == 8  # done cases were not redone


def test_a_damaged_file_is_reported_and_the_rest_segmented(worklist, seg):
    victim = worklist.list_cases()[2]
    worklist.store.blob_path(victim.image_hash).write_bytes(b"garbage")
    summary = batch.segment_cases(worklist, seg, ANN)
    assert summary["done"] == 7 and [n for n, _ in summary["failed"]] == [victim.number]


def test_role_needed(worklist, seg):
    with pytest.raises(PermissionDenied):
        batch.segment_cases(worklist, seg, NOBODY)


def test_background_job_runs_reports_and_releases_its_lock(worklist):
    info = batch.start_job(worklist.store.address, ANN)
    with pytest.raises(batch.JobBusyError):
        batch.start_job(worklist.store.address, ANN)
    deadline = time.time() + 180
    while batch.running_job() is not None and time.time() < deadline:
        time.sleep(0.5)
    progress = read_progress(__import__("pathlib").Path(info["dir"]))
    assert progress["state"] == "done", progress
    assert progress["done"] == progress["total"] == 8 and "8 of 8 cases" in progress["message"]
    assert batch.latest()["id"] == info["id"]
    assert all(c.status == "segmented" for c in worklist.list_cases())


def test_job_with_cancel_requested_stops_and_a_new_one_resumes(worklist, tmp_path):
    job = tmp_path / "jobs" / "segment" / "j1"
    job.mkdir(parents=True)
    (job / "cancel").touch()
    assert batch.run_job(job, worklist.store.address, None, ANN) == 3
    assert read_progress(job)["state"] == "cancelled" and "start again" in read_progress(job)["message"]
    assert batch.running_job() is None
    job2 = tmp_path / "jobs" / "segment" / "j2"
    job2.mkdir()
    assert batch.run_job(job2, worklist.store.address, None, ANN) == 0
    assert read_progress(job2)["done"] == 8


def test_cli_import_segment_and_export(tmp_path, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    for s in list_samples()[:2]:
        (folder / s.image_path.name).write_bytes(s.image_path.read_bytes())
    (folder / "readme.txt").write_text("hello")
    store = str(tmp_path / "store")
    assert cli_main(["import", str(folder), "--store", store, "--label", "batch A"]) == 1  # one file failed
    out = capsys.readouterr().out
    assert "readme.txt: NOT IMPORTED" in out and "2 new cases" in out
    assert cli_main(["segment-cases", "--store", store, "--csv", str(tmp_path / "f.csv"),
                     "--masks", str(tmp_path / "masks")]) == 0
    lines = (tmp_path / "f.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith("1,batch A,segmented")
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["case_00001_mask.png", "case_00002_mask.png"]
    assert cli_main(["export-cases", "--store", store, "--json", str(tmp_path / "c.json")]) == 0
    assert '"estimated_dice"' in (tmp_path / "c.json").read_text()
