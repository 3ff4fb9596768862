"""rtsep.runtime.artifact: save/load round trip, refusal of tampered/truncated/mismatched artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rtsep.errors import ModelError
from rtsep.nn.config import ModelConfig

keras = pytest.importorskip("keras")

from rtsep.runtime.artifact import (CONFIG_FILE, WEIGHTS_FILE, load_artifact, model_config_sha256,  # noqa: E402
                            resolve_model_path, save_artifact, sha256_file)
from rtsep.nn import build_model, count_params  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny hybrid with non-trivial weights, saved once: (path, model, config)."""
    keras.utils.set_random_seed(7)
    cfg = ModelConfig.preset("hybrid", "tiny")
    model = build_model(cfg)
    rng = np.random.default_rng(7)
    for v in model.weights:
        v.assign(v.numpy() + rng.normal(0, 0.05, v.shape).astype(np.float32))
    path = save_artifact(tmp_path_factory.mktemp("art") / "tiny", model, cfg,
                         card={"steps": 12, "sdr": {"vocals": 1.5}, "sdr command": "rtsep eval data"},
                         training={"lr": 0.001})
    return path, model, cfg


@pytest.fixture
def copy(saved, tmp_path):
    """A fresh copy of the saved artifact, to damage."""
    dst = tmp_path / "copy"
    shutil.copytree(saved[0], dst)
    return dst


def _edit_config(path: Path, fn) -> None:
    meta = json.loads((path / CONFIG_FILE).read_text())
    fn(meta)
    (path / CONFIG_FILE).write_text(json.dumps(meta))


def test_save_writes_the_documented_files(saved):
    path, model, cfg = saved
    assert sorted(p.name for p in path.iterdir()) == ["MODEL_CARD.md", "config.json", "model.weights.h5"]
    meta = json.loads((path / CONFIG_FILE).read_text())
    assert meta["model"] == cfg.to_dict()
    assert meta["params"] == count_params(model)
    assert meta["weights_sha256"] == sha256_file(path / WEIGHTS_FILE)
    assert meta["model_sha256"] == model_config_sha256(cfg.to_dict())
    assert meta["training"] == {"lr": 0.001}
    card = (path / "MODEL_CARD.md").read_text()
    for words in ("hybrid", f"{count_params(model):,}", "vocals: 1.5", "rtsep eval data", "12"):
        assert words in card
    assert not list(path.parent.glob(".tiny.tmp-*"))  # temporary folder renamed away


def test_load_gives_identical_outputs(saved):
    path, model, cfg = saved
    art = load_artifact(path)
    assert art.config == cfg and art.path == path and art.params == count_params(model)
    assert "Model card" in art.card_text
    mag = np.random.default_rng(0).uniform(0, 20, (2, 1024, 192, 2)).astype(np.float32)
    # same graph, same weights, same machine: equal to float32 rounding (1e-6 absolute)
    np.testing.assert_allclose(np.asarray(art.model(mag)), np.asarray(model(mag)), rtol=0, atol=1e-6)


def test_save_replaces_an_artifact_but_not_other_folders(saved, tmp_path):
    path, model, cfg = saved
    out = tmp_path / "m"
    save_artifact(out, model, cfg)
    save_artifact(out, model, cfg, card={"steps": 99})
    assert "99" in (out / "MODEL_CARD.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no leftovers
    other = tmp_path / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="not a model artifact"):
        save_artifact(other, model, cfg)
    assert (other / "notes.txt").read_text() == "mine"


def test_save_refuses_a_model_that_does_not_match_its_config(saved, tmp_path):
    _, model, _ = saved
    with pytest.raises(ModelError, match="parameters"):
        save_artifact(tmp_path / "x", model, ModelConfig.preset("unet", "tiny"))


def test_flipped_weight_bytes_are_refused(copy):
    w = copy / WEIGHTS_FILE
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0x01
    w.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt or was modified"):
        load_artifact(copy)


def test_truncated_weights_are_refused(copy):
    w = copy / WEIGHTS_FILE
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ModelError, match="sha256"):
        load_artifact(copy)
    # even with a matching checksum recorded, a truncated HDF5 file is refused
    _edit_config(copy, lambda m: m.update(weights_sha256=sha256_file(w)))
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_artifact(copy)


def test_edited_model_config_is_refused(copy):
    _edit_config(copy, lambda m: m["model"]["net"].update(dropout=0.5))
    with pytest.raises(ModelError, match="edited after saving"):
        load_artifact(copy)


def test_weights_that_do_not_fit_the_config_are_refused(copy):
    """A consistent-looking config (checksums updated) that builds other shapes."""
    def change(meta):
        meta["model"]["net"]["d_model"] = 16
        meta["model_sha256"] = model_config_sha256(meta["model"])
    _edit_config(copy, change)
    with pytest.raises(ModelError, match="parameters"):
        load_artifact(copy)

    def same_count_other_shapes(meta):  # params edited too: the HDF5 shape check catches it
        meta["params"] = count_params(build_model(ModelConfig.from_dict(meta["model"])))
    _edit_config(copy, same_count_other_shapes)
    with pytest.raises(ModelError, match="do not belong"):
        load_artifact(copy)


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.update(extra=1), "unknown key"),
    (lambda m: m.pop("weights_sha256"), "missing key"),
    (lambda m: m.update(format_version=99), "version"),
    (lambda m: m["model"].update(arch="d4net"), "unknown architecture"),
    (lambda m: m["model"]["net"].update(colour="red"), "unknown key"),
    (lambda m: m.update(weights_file="../../etc/passwd"), "plain file name"),
])
def test_bad_config_json_is_refused(copy, edit, words):
    _edit_config(copy, edit)
    with pytest.raises(ModelError, match=words):
        load_artifact(copy)


def test_unreadable_or_missing_files_are_refused(copy, tmp_path):
    (copy / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_artifact(copy)
    (copy / CONFIG_FILE).write_text("{truncated")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_artifact(copy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="config.json is missing"):
        load_artifact(empty)


def test_resolve_model_path(saved, tmp_path, monkeypatch):
    path = saved[0]
    assert resolve_model_path(str(path)) == path
    assert resolve_model_path(path / CONFIG_FILE) == path
    models = tmp_path / "models"
    shutil.copytree(path, models / "mine")
    monkeypatch.setenv("RTSEP_MODELS_DIR", str(models))
    assert resolve_model_path("mine") == models / "mine"
    with pytest.raises(ModelError) as err:
        resolve_model_path("nothere")
    msg = str(err.value)
    assert str(models / "nothere") in msg and "mine" in msg and "RTSEP_MODELS_DIR" in msg
    with pytest.raises(ModelError, match="not found"):
        resolve_model_path(str(tmp_path / "no" / "such"))
    with pytest.raises(ModelError, match="empty model name"):
        resolve_model_path("")


def test_repo_models_dir_default(monkeypatch):
    import rtsep
    from rtsep.runtime.artifact import repo_models_dir

    monkeypatch.delenv("RTSEP_MODELS_DIR", raising=False)
    assert repo_models_dir() == Path(rtsep.__file__).resolve().parent.parent / "models"
