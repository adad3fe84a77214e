import json

import numpy as np
from PIL import Image

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
