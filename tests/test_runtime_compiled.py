"""rtsep.runtime.compiled, and load_model of an artifact: the warmed numpy callable
matches model.predict, any batch size works."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtsep.errors import ModelError
from rtsep.nn.config import ModelConfig

keras = pytest.importorskip("keras")

from rtsep.runtime.artifact import save_artifact  # noqa: E402
from rtsep.nn import build_model, count_params  # noqa: E402
from rtsep.runtime.compiled import ModelRuntime  # noqa: E402
from rtsep.runtime.loader import load_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHAPE = (1024, 192, 2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny hybrid saved as an artifact: (path, model, config)."""
    keras.utils.set_random_seed(3)
    cfg = ModelConfig.preset("hybrid", "tiny")
    model = build_model(cfg)
    path = save_artifact(tmp_path_factory.mktemp("rt") / "tiny", model, cfg)
    return path, model, cfg


@pytest.fixture
def mag():
    return np.random.default_rng(5).uniform(0, 30, (3, *SHAPE)).astype(np.float32)


def test_load_model_matches_model_predict(tiny, mag):
    path, model, cfg = tiny
    rt = load_model(path, batch_size=2, warmup_calls=2)
    assert rt.params == count_params(model) and rt.config == cfg and rt.path == path
    assert rt.backend == "tensorflow" and rt.batch_size == 2
    assert ("CPU" in rt.device) or ("GPU" in rt.device)
    assert rt.warmup_s > 0.0
    ref = model.predict(mag, verbose=0)
    # tf.function graph vs Keras predict: same ops, float32 rounding only (1e-5 absolute
    # on estimates of magnitudes up to 30)
    for n in (2, 1, 3):  # the compiled batch, then other sizes via the dynamic signature
        out = rt(mag[:n])
        assert out.shape == (n, 4, *SHAPE) and out.dtype == np.float32
        np.testing.assert_allclose(out, ref[:n], rtol=0, atol=1e-5)
    assert rt(mag[:0]).shape == (0, 4, *SHAPE)
    # float64 input is accepted and converted
    np.testing.assert_allclose(rt(mag[:2].astype(np.float64)), ref[:2], rtol=0, atol=1e-5)


def test_from_model_follows_training_updates(tiny, mag):
    _, model, cfg = tiny
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    rt = ModelRuntime.from_model(clone, cfg, warmup_calls=1)
    before = rt(mag[:1])
    np.testing.assert_allclose(before, model.predict(mag[:1], verbose=0), rtol=0, atol=1e-5)
    bias = clone.get_layer("vd_unembed").bias
    bias.assign(bias.numpy() + 1.0)  # as an optimizer step would
    assert np.abs(rt(mag[:1]) - before).max() > 1e-3


@pytest.mark.parametrize("bad", [np.zeros((1024, 192, 2), np.float32),
                                 np.zeros((1, 1024, 191, 2), np.float32),
                                 np.zeros((1, 2, 1024, 192), np.float32)])
def test_wrong_input_shapes_raise_model_error(tiny, bad):
    rt = ModelRuntime.from_model(tiny[1], tiny[2], warmup_calls=0)
    with pytest.raises(ModelError, match="shape"):
        rt(bad)


def test_missing_model_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing")


def test_runtime_drives_the_offline_separator(tiny):
    """The runtime is a model in the engine's sense: separate_array accepts it."""
    from rtsep.engine.offline import separate_array

    rt = load_model(tiny[0], warmup_calls=1)
    x = np.random.default_rng(0).normal(0, 0.1, (4096, 2)).astype(np.float32)
    out = separate_array(rt, x, batch_size=4)
    assert out.shape == (5, 4096, 2) and np.isfinite(out).all()
    # ratio masks: the four stems sum back to the mixture (float32 STFT round trip)
    np.testing.assert_allclose(out[:4].sum(axis=0), x, atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_same_artifact_runs_on_jax(tiny, tmp_path, mag):
    """KERAS_BACKEND=jax loads the same artifact; outputs agree with TensorFlow (1e-4)."""
    path, model, _ = tiny
    np.save(tmp_path / "in.npy", mag[:2])
    code = (
        "import json, sys, numpy as np\n"
        "from rtsep.runtime import load_model\n"
        f"rt = load_model({str(path)!r}, warmup_calls=1)\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, rt(np.load({str(tmp_path / 'in.npy')!r})))\n"
        "print(json.dumps({'backend': rt.backend, 'device': rt.device}))\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["backend"] == "jax"
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.predict(mag[:2], verbose=0),
                               rtol=0, atol=1e-4)
