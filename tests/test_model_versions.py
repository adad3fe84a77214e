import json

from lungseg_core.model_versions import default_model_name, derived_names, next_version_name, promote, promoted_name
from lungseg_core.registry import DEFAULT_MODEL


def test_version_names_promotion_and_log(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_MODELS", str(tmp_path))
    assert next_version_name("unet_lite0") == "unet_lite0-ft1"
    (tmp_path / "unet_lite0-ft1.safetensors").write_bytes(b"x")
    (tmp_path / "unet_lite0-ft1.json").write_text(json.dumps({"lineage": {"created": "2026-01-01"}}))
    assert next_version_name("unet_lite0-ft1") == "unet_lite0-ft2"
    assert derived_names() == ["unet_lite0-ft1"]
    assert default_model_name() == DEFAULT_MODEL and promoted_name() is None
    promote("unet_lite0-ft1", "better on held-back corrections")
    assert default_model_name() == "unet_lite0-ft1"
    promote("unet_lite0-ft1", "again")
    assert len((tmp_path / "promotions.jsonl").read_text().splitlines()) == 2
    (tmp_path / "unet_lite0-ft1.safetensors").unlink()  # a promoted file that vanished falls back
    assert default_model_name() == DEFAULT_MODEL
