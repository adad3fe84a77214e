"""The archive on a cluster (issue 25): `segment_on_cluster` on a real local Dask cluster (2 worker
processes) gives the same masks and figures as the local path; a worker killed mid-run costs its chunk a
second run, and no case is stored twice or lost."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

import numpy as np
import pytest
from PIL import Image

from lungseg_core.models.model_loading import load_model
from lungseg_core.models.model_versions import default_model_name
from lungseg_core.models.samples import list_samples
from lungseg_core.people.access_control import command_line_user
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.batch_segmentation import segment_cases
from lungseg_core.workflow.cluster_segmentation import segment_on_cluster
from lungseg_core.workflow.corrections_store import open_store
from lungseg_core.workflow.worklist import Worklist

from .people import ADMIN

CLI = command_line_user()


@pytest.fixture(autouse=True)
def _plain_main_module(monkeypatch):
    """Dask starts its workers with multiprocessing's spawn, which re-runs the parent's `__main__` from its
    file; Streamlit's AppTest (earlier in a full run) leaves a page script installed as `__main__`. A bare
    module stands in while the cluster starts, as `python -m pytest`'s own would."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def _cases(root, variants: int) -> Worklist:
    worklist = Worklist(open_store(str(root)))
    for i, sample in enumerate(list_samples()):
        image = np.asarray(Image.open(sample.image_path))
        for j in range(variants):
            worklist.add_case(np.ascontiguousarray(np.roll(image, 7 * j, axis=0)), CLI, label=f"{i}.{j}")
    return worklist


def _local_cluster():  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR)


def test_the_cluster_stores_what_the_local_path_stores(tmp_path):
    local, remote = _cases(tmp_path / "local", 2), _cases(tmp_path / "remote", 2)
    segment_cases(local, load_model(default_model_name()), CLI)
    with _local_cluster() as cluster:
        summary = segment_on_cluster(remote.store.address, cluster.scheduler_address, default_model_name(), CLI,
                                     chunk=3)
    assert summary["done"] == summary["total"] == 8 and not summary["failed"] and not summary["stopped"]
    for mine, theirs in zip(local.list_cases(), remote.list_cases()):
        assert theirs.mask_hash == mine.mask_hash  # the same pixels, bit for bit
        assert theirs.quality["estimated_dice"] == pytest.approx(mine.quality["estimated_dice"], abs=1e-6)
        assert theirs.quality["flags"] == mine.quality["flags"] and theirs.model_name == mine.model_name


def test_a_worker_killed_mid_run_is_retried_and_no_case_is_stored_twice_or_lost(tmp_path):
    from distributed import Client

    worklist = _cases(tmp_path / "store", 4)  # 16 cases, 8 chunks of 2
    result: dict = {}
    with _local_cluster() as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        run = threading.Thread(target=lambda: result.update(segment_on_cluster(
            worklist.store.address, cluster.scheduler_address, default_model_name(), CLI, chunk=2)))
        run.start()
        deadline = time.monotonic() + 300
        while sum(c.mask_hash is not None for c in worklist.list_cases()) < 2:
            assert time.monotonic() < deadline and run.is_alive(), "the cluster stored nothing"
            time.sleep(0.2)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)  # mid-run: it holds a chunk (each worker always has one)
        run.join(timeout=600)
        assert victim not in client.run(os.getpid).values()  # it died; the nanny started another
    assert not run.is_alive()
    cases = worklist.list_cases()
    assert all(c.mask_hash is not None for c in cases) and len(cases) == 16  # nothing lost
    stored = [e.target for e in AuditLog(worklist.database).entries(ADMIN, action="case_segmented")]
    assert sorted(stored) == sorted(f"case {c.number}" for c in cases)  # each case stored exactly once
    assert result["done"] + result["skipped"] == 16 and not result["failed"]


def test_the_worklists_background_job_uses_the_cluster_when_one_is_configured(tmp_path, monkeypatch):
    from lungseg_core.storage.jobs import read_progress
    from lungseg_core.workflow import batch_segmentation as batch

    worklist = _cases(tmp_path / "store", 1)
    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    job = tmp_path / "jobs" / "segment" / "j1"
    job.mkdir(parents=True)
    with _local_cluster() as cluster:
        monkeypatch.setenv("LUNGSEG_CLUSTER", cluster.scheduler_address)
        assert batch.run_job(job, worklist.store.address, None, CLI) == 0
        from distributed import Client

        with Client(cluster) as client:  # the work was done there: its workers hold the model now
            held = client.run(lambda: __import__("lungseg_core.workflow.cluster_segmentation",
                                                 fromlist=["_MODELS"])._MODELS.keys().__len__())
    assert sum(held.values()) >= 1
    assert all(c.mask_hash is not None for c in worklist.list_cases())
    assert read_progress(job)["state"] == "done" and read_progress(job)["done"] == 4
