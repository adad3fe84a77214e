import json

import numpy as np
from PIL import Image

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core import DEFAULT_MODEL
from lungseg_core.cli import main

from .conftest import SAMPLES, sample_cases


def test_help_for_every_command(capsys):
    for command in ("train", "evaluate", "predict", "models"):
        try:
            main([command, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        assert "usage" in capsys.readouterr().out


def test_unknown_model_is_a_clear_error(tiny_data_dir, capsys):
    assert main(["evaluate", "--model", "nope", "--data", str(tiny_data_dir)]) == 2
    err = capsys.readouterr().err
    assert "Unknown model 'nope'" in err and DEFAULT_MODEL in err


def test_evaluate_prints_per_source_table_and_json(tiny_data_dir, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    assert main(["evaluate", "--data", str(tiny_data_dir), "--split", "test", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "shenzhen" in printed and "dice mean/med" in printed
    report = json.loads(out_json.read_text())
    assert report["by_source"]["all"]["n"] == 1 and report["by_source"]["all"]["dice"]["mean"] > 0.9


def test_predict_writes_masks_and_reports_bad_files(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    good = SAMPLES / sample_cases()[0]["image_path"]
    code = main(["predict", str(good), str(bad), "--out", str(tmp_path / "masks")])
    assert code == 1  # one file failed, the other was still written
    assert "broken.png: This file is not an image" in capsys.readouterr().err
    mask = np.asarray(Image.open(tmp_path / "masks" / f"{good.stem}_mask.png"))
    assert mask.shape == (512, 512) and set(np.unique(mask)) == {0, 255}


def test_users_command_adds_lists_changes_and_audits(tmp_path, capsys, monkeypatch):
    import io

    from lungseg_core.people.accounts import UserDirectory
    from lungseg_core.people.audit import AuditLog

    store = str(tmp_path / "store")
    assert main(["users", "add", "alice", "--roles", "admin,reviewer", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "added alice (admin, reviewer)" in out and "one-time password: " in out
    one_time = out.split("one-time password: ")[1].split()[0]
    users = UserDirectory(tmp_path / "store" / "store.sqlite")
    assert users.sign_in("alice", one_time)[0].username == "alice" and users.must_change_password("alice")
    monkeypatch.setattr("sys.stdin", io.StringIO("my secret words\n"))
    assert main(["users", "add", "bob", "--roles", "annotator", "--password-stdin", "--store", store]) == 0
    assert main(["users", "add", "dana@hospital.org", "--roles", "reviewer", "--no-password", "--store", store]) == 0
    assert main(["users", "roles", "bob", "--roles", "annotator,reviewer", "--reason", "senior", "--store", store]) == 0
    assert main(["users", "disable", "bob", "--reason", "left", "--store", store]) == 0
    assert main(["users", "reset-password", "bob", "--store", store]) == 0
    capsys.readouterr()
    assert main(["users", "list", "--store", store]) == 0
    listing = capsys.readouterr().out
    assert "bob" in listing and "disabled" in listing and "annotator,reviewer" in listing
    assert main(["users", "roles", "bob", "--roles", "owner", "--store", store]) == 2
    assert "unknown role" in capsys.readouterr().err
    assert main(["users", "add", "--store", store]) == 2
    log = AuditLog(tmp_path / "store" / "store.sqlite")
    actions = [(e.action, e.target) for e in log.entries(READER) if e.actor.startswith("cli:")][::-1]
    assert actions == [("user_added", "alice"), ("user_added", "bob"), ("user_added", "dana@hospital.org"),
                       ("roles_changed", "bob"), ("user_disabled", "bob"), ("password_reset", "bob")]
    assert [e.actor for e in log.entries(READER, action="sign_in")] == ["alice"]
