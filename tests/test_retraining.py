"""Retraining from corrections: a new version with lineage, the gate, cancel, progress after reload."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core import DEFAULT_MODEL, list_models, load_model
from lungseg_core.learning import retraining
from lungseg_core.learning.dataset import read_manifest
from lungseg_core.models.model_versions import default_model_name, models_dir
from lungseg_core.learning.retrain_jobs import active_job, cancel_job, latest_job, start_job
from lungseg_core.learning.retraining import retrain
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.people.audit import AuditLog
from lungseg_core.models.samples import list_samples

from .people import ADMIN, REV
from .signed_in import sign_in_as

ROOT = Path(__file__).resolve().parent.parent




def test_retrain_creates_a_version_with_card_and_lineage(env, tiny_data_dir, tmp_path):
    result = retrain(DEFAULT_MODEL, env, tmp_path / "job", base_data=tiny_data_dir, epochs=1, size=64, batch_size=4)
    name = result["name"]
    assert name == f"{DEFAULT_MODEL}-ft1"
    assert (models_dir() / f"{name}.safetensors").is_file() and (models_dir() / f"{name}.md").is_file()
    card = result["card"]
    lineage = card["lineage"]
    assert lineage["parent"] == DEFAULT_MODEL and lineage["corrections_train"] + lineage["corrections_holdout"] == 4
    assert lineage["corrections_holdout"] >= 1 and lineage["base_train_cases"] == 2
    assert lineage["settings"]["correction_weight"] == retraining.CORRECTION_WEIGHT and lineage["settings"]["epochs"] == 1
    assert "Fine-tune settings: 1 epochs" in (models_dir() / f"{name}.md").read_text()
    assert set(lineage["metrics_before_after"]) == {"val", "holdout", "test"}
    evidence = lineage["evidence"]["val"]
    assert set(evidence) == {"parent", "candidate"} and {"dice", "precision", "recall", "n"} <= set(evidence["parent"]["all"])
    assert not lineage["gate"]["decided"]  # 1 held-back correction: too few to decide
    assert not (tmp_path / "job" / "data").exists() or True  # retrain() itself leaves the job folder to its runner
    assert not card["recipe"]["ema_decay"]  # a short fine-tune ships its own weights, not a lagging average
    assert "Lineage" in (models_dir() / f"{name}.md").read_text()
    assert name in list_models()
    seg = load_model(name)
    assert seg.predict(np.asarray(Image.open(list_samples()[0].image_path))).shape == (512, 512)
    assert default_model_name() == DEFAULT_MODEL  # a candidate, never the default by itself


def test_degraded_candidate_is_refused(env, tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(retraining, "FINE_TUNE_LR_FACTOR", 5000.0)  # a wrecking learning rate
    monkeypatch.setattr(retraining, "MIN_HOLDOUT", 1)  # four samples: let the gate judge on one
    result = retrain(DEFAULT_MODEL, env, tmp_path / "job", base_data=tiny_data_dir, epochs=1, size=64, batch_size=4)
    assert not result["recommended"]
    metrics = result["metrics"]["holdout"]
    assert metrics["candidate"] < metrics["parent"]
    assert default_model_name() == DEFAULT_MODEL
    assert result["name"] in list_models()  # kept, with the reason in its card
    assert "do not gain" in result["decision"]["reason"] or "forgets" in result["decision"]["reason"]
    site = result["card"]["lineage"]["site_gate"]
    assert site["holdout_gain_interval"][0] <= 0 or site["forgetting"] > retraining.VAL_TOLERANCE
    pictures = result["card"]["lineage"]["gate_pictures"]
    assert (models_dir() / pictures["convention_map"]).is_file() and (models_dir() / pictures["films"]).is_file()
    page = AppTest.from_file(str(ROOT / "pages/6_Retrain.py"), default_timeout=60)
    sign_in_as(page, env, ADMIN)
    page.run()
    assert not page.exception
    assert "Your team's held-back corrections" in [m.label for m in page.metric]
    assert any("Not recommended" in w.value for w in page.warning)
    assert sum(getattr(e, "type", None) == "image" for e in page.main) == 2  # the map and the films


def _wait(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError


def test_cancel_stops_the_process_and_writes_no_weights(env, tiny_data_dir):
    with pytest.raises(PermissionDenied, match="admin"):
        start_job(DEFAULT_MODEL, env.address, tiny_data_dir, epochs=200, size=64, actor=REV)
    job = start_job(DEFAULT_MODEL, env.address, tiny_data_dir, epochs=200, size=64, actor=ADMIN)
    with pytest.raises(Exception, match="already running"):
        start_job(DEFAULT_MODEL, env.address, tiny_data_dir, actor=ADMIN)
    _wait(lambda: (latest_job() or {}).get("step_in_epoch"))
    # a page reload shows the running job's progress
    at = AppTest.from_file(str(ROOT / "pages/6_Retrain.py"), default_timeout=60)
    sign_in_as(at, env, ADMIN)
    at.run()
    assert not at.exception
    texts = " ".join(str(getattr(el, "value", "")) + " " + str(getattr(el, "text", "")) for el in at.get("progress"))
    assert f"Job {job['id']}" in texts and "epoch" in texts
    assert f"started by {ADMIN.username}" in texts
    log = AuditLog(env.db_path)
    with pytest.raises(PermissionDenied):
        cancel_job(actor=REV, audit_log=log)
    assert cancel_job(actor=ADMIN, audit_log=log, reason="test")
    assert [e.action for e in log.entries(READER, actor=ADMIN.username)] == ["retrain_cancelled", "retrain_started"]
    assert active_job() is None
    assert latest_job()["state"] == "cancelled"
    assert not list(models_dir().glob("*.safetensors")) if models_dir().exists() else True


def test_retrain_cli_from_an_exported_zip(env, tiny_data_dir, tmp_path, capsys):
    from lungseg_core.cli import main
    from lungseg_core.workflow.corrections_export import export_training_zip

    archive = tmp_path / "export.zip"
    archive.write_bytes(export_training_zip(env, ADMIN))
    code = main(["retrain", "--base", DEFAULT_MODEL, "--corrections-zip", str(archive), "--data", str(tiny_data_dir),
                 "--epochs", "1", "--size", "64", "--job-dir", str(tmp_path / "job")])
    assert code == 0
    assert f"{DEFAULT_MODEL}-ft1" in capsys.readouterr().out
    assert (models_dir() / f"{DEFAULT_MODEL}-ft1.json").is_file()
    assert main(["retrain", "--base", DEFAULT_MODEL]) == 2  # neither a store nor a zip


def test_three_generations_each_load_through_load_model_and_predict(env, tmp_path):
    """A retrain of a retrain of a retrain: each version loads by the app's path and predicts; cards
    record the root recipe and the full chain. A release-1 card (recipe named after its parent
    version) still loads."""
    import json

    base = "unet_small_bn"
    image = np.asarray(Image.open(list_samples()[0].image_path))
    names = []
    for generation in range(3):
        parent = names[-1] if names else base
        result = retrain(parent, env, tmp_path / f"job{generation}", epochs=1, size=64, batch_size=2, max_steps=1)
        names.append(result["name"])
        card = result["card"]
        assert card["recipe"]["name"] == base
        assert card["lineage"]["chain"] == [base, *names]
        assert load_model(result["name"]).predict(image).shape == image.shape
    assert names == [f"{base}-ft1", f"{base}-ft2", f"{base}-ft3"]
    assert default_model_name() == DEFAULT_MODEL  # none promoted itself
    legacy = models_dir() / f"{base}-ft2.json"
    card = json.loads(legacy.read_text())
    card["recipe"]["name"] = f"{base}-ft1"  # what release 1 wrote for a second-generation retrain
    legacy.write_text(json.dumps(card))
    assert load_model(f"{base}-ft2").predict(image).shape == image.shape


def test_job_lock_failure_paths(env, tiny_data_dir, tmp_path, monkeypatch):
    """A failed start leaves no lock; an empty or dead lock never blocks; cleanup of a dead job's
    lock never removes a newer job's; the CLI takes the same lock."""
    import json
    import os
    import subprocess

    from lungseg_core.learning import retrain_jobs
    from lungseg_core.cli import main

    lock = retrain_jobs.jobs_dir() / "active.json"

    def broken_popen(*a, **k):
        raise OSError("no process for you")

    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "Popen", broken_popen)
        with pytest.raises(OSError):
            start_job(DEFAULT_MODEL, env.address, tiny_data_dir, actor=ADMIN)
    assert not lock.exists() and active_job() is None
    assert latest_job()["state"] == "failed"

    lock.write_text("")  # what a crash of release 1 left behind
    assert active_job() is None and not lock.exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    old_dir = retrain_jobs.jobs_dir() / "old"
    (old_dir / "data").mkdir(parents=True)
    lock.write_text(json.dumps({"id": "old", "pid": dead.pid, "dir": str(old_dir)}))
    assert active_job() is None and not lock.exists()
    assert not (old_dir / "data").exists()  # its copies of patient images are gone
    assert latest_job()  # progress of the dead job says failed
    # a newer job's lock survives the release of an older job
    lock.write_text(json.dumps({"id": "new", "pid": os.getpid(), "dir": "/somewhere/new"}))
    retrain_jobs.release(old_dir, retrain_jobs.RETRAIN_LOCK)
    assert json.loads(lock.read_text())["id"] == "new"
    # the CLI refuses while it is held
    code = main(["retrain", "--base", DEFAULT_MODEL, "--store", str(env.root), "--job-dir", str(tmp_path / "cli-job")])
    assert code == 2
    lock.unlink()


def test_two_reservations_never_share_a_version_name(tmp_path, monkeypatch):
    from lungseg_core.models.model_versions import release_version_name, reserve_version_name

    monkeypatch.setenv("LUNGSEG_MODELS", str(tmp_path))
    first, second = reserve_version_name("unet_small_bn"), reserve_version_name("unet_small_bn-ft1")
    assert (first, second) == ("unet_small_bn-ft1", "unet_small_bn-ft2")
    release_version_name(first)
    assert reserve_version_name("unet_small_bn") == "unet_small_bn-ft1"


def test_a_finished_job_deletes_its_image_copies_but_keeps_log_and_progress(env, tmp_path):
    from lungseg_core.learning.retrain_jobs import read_progress, run_job

    job_dir = tmp_path / "jobs-by-hand" / "j1"
    job_dir.mkdir(parents=True)
    (job_dir / "log.txt").write_text("log")
    assert run_job(job_dir, "unet_small_bn", env.root, None, 1, 64, max_steps=1) == 0
    assert not (job_dir / "data").exists() and not (job_dir / "out").exists()
    assert (job_dir / "log.txt").is_file() and read_progress(job_dir)["state"] == "done"
    assert "not decided" in read_progress(job_dir)["message"]


@pytest.mark.parametrize("members,message", [
    ({"../evil.txt": b"x"}, "outside its folder"),
    ({"/etc/evil": b"x"}, "outside its folder"),
    ({f"f{i}.txt": b"" for i in range(30)}, "more than the 20 allowed"),
    ({"big.bin": b"\0" * 5000}, "unpacks to"),
])
def test_corrections_zip_bounds(tmp_path, members, message):
    import io
    import zipfile

    from lungseg_core.learning.retraining import ZipInputError, safe_extract

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ZipInputError, match=message):
        safe_extract(buf.getvalue(), tmp_path / "out", max_files=20, max_bytes=4000)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_a_manifest_pointing_outside_the_zip_is_refused(tmp_path):
    import io
    import zipfile

    from lungseg_core.learning.retraining import ZipInputError, prepare_data

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.csv", "id,source,split,image_path,mask_path\na,corrections,train,../../../etc/passwd,m.png\n")
        zf.writestr("m.png", b"x")
    with pytest.raises(ZipInputError, match="not a file inside the zip"):
        prepare_data(None, tmp_path / "job", corrections_zip=buf.getvalue())


def test_base_images_replayed_in_proportion_to_the_corrections(env, tiny_data_dir, tmp_path, monkeypatch):
    from lungseg_core.learning.retraining import prepare_data

    monkeypatch.setattr(retraining, "REPLAY_PER_CORRECTION", 0)  # at least one base image is still mixed in
    monkeypatch.setattr(retraining, "REPLAY_MIN", 0)
    counts = prepare_data(env, tmp_path / "job", base_data=tiny_data_dir)
    assert counts["base_train"] == 1 and counts["base_val"] == 1 and counts["base_test"] == 1
    assert counts["corrections_train"] % retraining.CORRECTION_WEIGHT == 0
    again = prepare_data(env, tmp_path / "job2", base_data=tiny_data_dir)
    assert again == counts  # the same corrections replay the same base images


def _recommending(real_decide):  # type: ignore[no-untyped-def]
    """The gate as it decides, except that it always recommends (to reach what follows a recommendation)."""
    def recommending(*args, **kwargs):  # type: ignore[no-untyped-def]
        d, site, cmap = real_decide(*args, **kwargs)
        return retraining.GateDecision(True, "test: recommended", d.parent_val_dice, d.candidate_val_dice,
                                       d.parent_holdout_dice, d.candidate_holdout_dice), site, cmap

    return recommending


def test_once_the_gate_recommends_all_corrections_can_train(env, tiny_data_dir, tmp_path, monkeypatch):
    """The held-back corrections are used for the decision, then train too (one more epoch from the
    gated weights, more base images replayed, the encoder frozen); the card says so and its val
    figures are the shipped weights'."""
    monkeypatch.setattr(retraining, "decide_for_site", _recommending(retraining.decide_for_site))
    job = tmp_path / "job"
    assert retraining.ALL_CORRECTIONS_EPOCHS == 1  # on by default
    result = retrain(DEFAULT_MODEL, env, job, base_data=tiny_data_dir, epochs=1, size=64, batch_size=4)
    lineage = result["card"]["lineage"]
    assert lineage["all_corrections"]["corrections"] == 4 and lineage["all_corrections"]["epochs"] == 1
    assert lineage["all_corrections"]["encoder_frozen"] is True
    base_train = [c for c in read_manifest(tiny_data_dir) if c.split == "train"]
    assert lineage["all_corrections"]["base_replay"] == min(len(base_train), retraining.ALL_CORRECTIONS_REPLAY_MIN)
    import csv
    rows = list(csv.DictReader(open(job / "data_all" / "manifest.csv")))
    assert not [r for r in rows if r["split"] == "holdout"]
    held = {r["id"] for r in csv.DictReader(open(job / "data" / "manifest.csv")) if r["split"] == "holdout"}
    assert held and all(sum(r["id"] == h and r["split"] == "train" for r in rows) == retraining.CORRECTION_WEIGHT
                        for h in held)
    assert lineage["all_corrections"]["val_dice"] == lineage["metrics_before_after"]["val"]["candidate"]
    assert "all 4 corrections training" in (models_dir() / f"{result['name']}.md").read_text()
    gated = load_model(result["name"], directory=job / "out")
    shipped = load_model(result["name"])
    assert gated.version == shipped.version  # the published file is the all-corrections fit (copied over)


def test_a_finished_job_process_is_reaped_not_left_defunct():
    import subprocess
    import sys

    from lungseg_core.storage.jobs import pid_alive as _pid_alive

    proc = subprocess.Popen([sys.executable, "-c", "pass"])  # started, never waited for (as spawn_job does)
    deadline = time.time() + 30
    while _pid_alive(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(proc.pid)
    assert not Path(f"/proc/{proc.pid}").exists()  # reaped: no zombie under the server


def test_evidence_tables_put_before_after_and_the_change_side_by_side():
    from lungseg_core.learning.gate_evidence import evidence_tables

    lineage = {"evidence": {
        "val": {"parent": {"all": {"n": 5, "dice": 0.96, "precision": 0.97, "recall": 0.95}},
                "candidate": {"all": {"n": 5, "dice": 0.955, "precision": 0.97, "recall": 0.94}}},
        "holdout": {"parent": {"all": {"n": 12, "dice": 0.90, "precision": 0.98, "recall": 0.84}},
                    "candidate": {"all": {"n": 12, "dice": 0.95, "precision": 0.97, "recall": 0.93}}}}}
    tables = evidence_tables(lineage)
    assert [t for t, _ in tables] == ["Your team's held-back corrections", "Original validation split"]
    (row,) = tables[0][1]
    assert row["Dice change"] == 0.05 and row["recall before"] == 0.84 and row["recall after"] == 0.93
    assert tables[1][1][0]["Dice change"] == -0.005


def test_a_convention_the_gate_honours_is_spared_in_every_replay(env, tiny_data_dir, tmp_path, monkeypatch):
    """When the corrections are a drawing convention, the replayed base films (and val, which picks
    the epoch) carry the spared zone in the gated fit and in the all-corrections epoch; the card says
    so. When they are not, nothing is spared."""
    from lungseg_core.learning import convention_replay
    from lungseg_core.imaging.convention_map import GRID, ConventionMap

    zone = np.zeros((GRID, GRID), np.float32)
    zone[40:56, 36:50] = 1.0  # the patient's left lower lung, as a site map would have it
    real_test = convention_replay.honoured_map

    def honoured(*args, **kwargs):
        _cmap, test = real_test(*args, **kwargs)
        return ConventionMap(zone, np.zeros_like(zone), 30), {**test, "honoured": True}

    monkeypatch.setattr(convention_replay, "honoured_map", honoured)
    monkeypatch.setattr(retraining, "decide_for_site", _recommending(retraining.decide_for_site))
    monkeypatch.setattr(retraining, "FINE_TUNE_EPOCHS", 1)
    monkeypatch.setattr(retraining, "SPARED_EPOCHS", 2)  # the honoured convention's own (here: tiny) default
    job = tmp_path / "job"
    result = retrain(DEFAULT_MODEL, env, job, base_data=tiny_data_dir, size=64, batch_size=4, click_steps=0)
    spared = result["card"]["lineage"]["settings"]["replay_spares_convention"]
    assert spared["honoured"] and spared["spared_films"] > 0
    for folder in ("data", "data_all"):
        cases = read_manifest(job / folder)
        base = [c for c in cases if c.source != "corrections" and c.split in ("train", "val")]
        assert base and all(c.spared_path is not None and c.spared_path.is_file() for c in base), folder
        assert all(c.spared_path is None for c in cases if c.source == "corrections" or c.split == "test")
    assert "left the site's convention zone to its corrections" in (models_dir() / f"{result['name']}.md").read_text()

    monkeypatch.setattr(convention_replay, "honoured_map", real_test)
    plain = retrain(DEFAULT_MODEL, env, tmp_path / "job2", base_data=tiny_data_dir, size=64, batch_size=4,
                    click_steps=0, all_corrections_epochs=0)
    assert result["card"]["lineage"]["settings"]["epochs"] == 2  # longer where the convention is spared ...
    assert plain["card"]["lineage"]["settings"]["epochs"] == 1  # ... not elsewhere
    assert not plain["card"]["lineage"]["settings"]["replay_spares_convention"]["honoured"]
    assert all(c.spared_path is None for c in read_manifest(tmp_path / "job2" / "data"))
    # the replay was drawn again, twice as wide, for the honoured convention
    settings = result["card"]["lineage"]["settings"]
    assert settings["replay_per_correction"] == retraining.SPARED_REPLAY_PER_CORRECTION
    assert plain["card"]["lineage"]["settings"]["replay_per_correction"] == retraining.REPLAY_PER_CORRECTION
    assert settings["learning_rate"] == pytest.approx(
        retraining.SPARED_LR_FACTOR * plain["card"]["lineage"]["settings"]["learning_rate"])
    assert result["card"]["training"]["split_used_for_selection"] == "none: the last epoch is kept"
    assert plain["card"]["training"]["split_used_for_selection"] != "none: the last epoch is kept"
