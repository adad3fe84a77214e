import json

import pytest

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.people.audit import AuditLog
from lungseg_core.models.model_versions import (PromotionError, default_model_name, derived_names, earlier_defaults,
                                         next_version_name, promote, promoted_name, promotion_history, rollback)
from lungseg_core.models.registry import DEFAULT_MODEL
from lungseg_core.models.weights_store import weights_dir

from .people import ADMIN, REV


def _fake_version(folder, name, parent=DEFAULT_MODEL, created="2026-01-01"):
    """A loadable version: the default's weights under another name, with a lineage card."""
    (folder / f"{name}.safetensors").write_bytes((weights_dir() / f"{DEFAULT_MODEL}.safetensors").read_bytes())
    card = json.loads((weights_dir() / f"{DEFAULT_MODEL}.json").read_text())
    card["lineage"] = {"parent": parent, "created": created}
    (folder / f"{name}.json").write_text(json.dumps(card))


def test_version_names(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_MODELS", str(tmp_path))
    assert next_version_name("unet_lite0") == "unet_lite0-ft1"
    (tmp_path / "unet_lite0-ft1.safetensors").write_bytes(b"x")
    (tmp_path / "unet_lite0-ft1.json").write_text(json.dumps({"lineage": {"created": "2026-01-01"}}))
    assert next_version_name("unet_lite0-ft1") == "unet_lite0-ft2"
    assert derived_names() == ["unet_lite0-ft1"]


def test_promotion_is_explicit_audited_and_rolls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_MODELS", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    log = AuditLog(tmp_path / "store.sqlite")
    name = f"{DEFAULT_MODEL}-ft1"
    _fake_version(tmp_path / "models", name)
    assert default_model_name() == DEFAULT_MODEL and promoted_name() is None  # present, not promoted
    with pytest.raises(PermissionDenied, match="admin"):
        promote(name, REV, "looks better", log)
    with pytest.raises(PromotionError, match="reason"):
        promote(name, ADMIN, " ", log)
    with pytest.raises(PromotionError, match="cannot be loaded"):
        promote("no_such_model-ft9", ADMIN, "typo", log)
    promote(name, ADMIN, "better on held-back corrections", log)
    assert default_model_name() == name
    with pytest.raises(PromotionError, match="already the default"):
        promote(name, ADMIN, "again", log)
    assert earlier_defaults() == [DEFAULT_MODEL]
    with pytest.raises(PermissionDenied):
        rollback(DEFAULT_MODEL, REV, "worse on the ward's films", log)
    with pytest.raises(PromotionError, match="never the default"):
        rollback("unet_small_bn", ADMIN, "not an earlier default", log)
    rollback(DEFAULT_MODEL, ADMIN, "worse on the ward's films", log)
    assert default_model_name() == DEFAULT_MODEL
    assert earlier_defaults() == [name]
    history = promotion_history()
    assert [(h["name"], h["action"], h["by"], h["previous"]) for h in history] == [
        (name, "promote", ADMIN.username, DEFAULT_MODEL), (DEFAULT_MODEL, "rollback", ADMIN.username, name)]
    entries = log.entries(READER)
    assert [(e.action, e.actor, e.target, e.reason) for e in entries] == [
        ("rolled_back", ADMIN.username, DEFAULT_MODEL, "worse on the ward's films"),
        ("promoted", ADMIN.username, name, "better on held-back corrections")]
    (tmp_path / "models" / "promoted.json").write_text(json.dumps({"name": "vanished-ft1"}))
    assert default_model_name() == DEFAULT_MODEL  # a promoted file that vanished falls back
