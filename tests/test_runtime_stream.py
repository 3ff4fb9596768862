"""rtsep.runtime.stream: the compiled step form, and the engines driving it.

Tiny ``stream_hybrid`` model with random weights (real Keras, TensorFlow backend in
this process). Tolerances: step vs full form 1e-4 of the output's scale (measured
~2e-7); streaming engine vs offline separation 1e-5 absolute (float32 rounding, as
for window models).
"""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.engine import StreamConfig, StreamingSeparator
from rtsep.engine.model import is_streaming
from rtsep.engine.offline import OFFLINE_STREAMING_CONFIG, offline_config, separate_array
from rtsep.errors import ModelError
from rtsep.nn import build_model
from rtsep.nn.config import ModelConfig
from rtsep.nn.stream import stream_core
from rtsep.runtime.stream import StreamRuntime
from toy_models import stream  # tests/toy_models.py


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig.preset("stream_hybrid", "tiny")
    return build_model(cfg), cfg


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.mark.parametrize("k", [1, 4])
def test_runtime_steps_equal_the_full_form(tiny, rng, k):
    model, cfg = tiny
    mag = rng.gamma(1.0, 2.0, (1, 1024, 30, 2)).astype(np.float32)
    full = np.asarray(stream_core(model)(mag))
    rt = StreamRuntime(model, cfg, frames=k, warmup_calls=1)
    assert is_streaming(rt) and rt.frames == k
    out = np.concatenate([rt.step(mag[:, :, t:t + k]) for t in range(0, 30, k)], axis=3)
    assert out.shape == full.shape
    assert np.abs(out - full).max() <= 1e-4 * np.abs(full).max()
    # reset starts a new stream: the first frames again give the full form's first frames
    rt.reset()
    np.testing.assert_allclose(rt.step(mag[:, :, :k]), full[..., :k, :], rtol=0,
                               atol=1e-4 * np.abs(full).max())


def test_bind_compiles_for_the_engines_hop_and_refuses_lookahead(tiny):
    model, cfg = tiny
    rt = StreamRuntime(model, cfg, frames=1, warmup_calls=0)
    rt.bind(StreamConfig(lookahead_frames=0, model_hop_frames=3))
    assert rt.frames == 3
    with pytest.raises(ModelError, match="look-ahead"):
        rt.bind(StreamConfig(lookahead_frames=2, model_hop_frames=3))
    with pytest.raises(ModelError, match="step takes"):
        rt.step(np.zeros((1, 1024, 4, 2), np.float32))


@pytest.mark.parametrize("k", [1, 5])
def test_streaming_engine_equals_offline_with_a_streaming_model(tiny, rng, k):
    model, cfg = tiny
    x = rng.uniform(-0.5, 0.5, (30_000, 2)).astype(np.float32)
    scfg = StreamConfig(lookahead_frames=0, model_hop_frames=k)
    eng = StreamingSeparator(StreamRuntime(model, cfg, frames=k, warmup_calls=0), scfg)
    assert eng.latency_samples == 4095 + (k - 1) * 1024
    y = stream(eng, x, [777, 1, 4096, 300])
    d = eng.latency_samples
    off = separate_array(StreamRuntime(model, cfg, frames=k, warmup_calls=0), x, scfg)
    assert np.max(np.abs(y[:, d:d + len(x)] - off)) < 1e-5
    # after a reset the engine gives the same output again (the model's state restarted)
    eng.reset()
    y2 = stream(eng, x, [1024])
    assert np.max(np.abs(y2[:, d:d + len(x)] - off)) < 1e-5


def test_offline_default_for_a_streaming_model_is_causal(tiny, rng):
    model, cfg = tiny
    rt = StreamRuntime(model, cfg, frames=1, warmup_calls=0)
    assert offline_config(rt) == OFFLINE_STREAMING_CONFIG
    x = rng.uniform(-0.5, 0.5, (20_000, 2)).astype(np.float32)
    out = separate_array(rt, x)
    assert rt.frames == OFFLINE_STREAMING_CONFIG.model_hop_frames
    np.testing.assert_allclose(out[:4].sum(axis=0), x, atol=1e-4)  # masks sum to one


def test_jax_environment_has_a_private_compilation_cache(tmp_path, monkeypatch):
    from rtsep.runtime.stream import jax_environment

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env = jax_environment(threads=1)
    assert env["KERAS_BACKEND"] == "jax" and "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]
    cache = tmp_path / "rtsep" / "jax"
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(cache)
    assert cache.is_dir() and (cache.stat().st_mode & 0o077) == 0
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")  # the user turned it off
    assert "JAX_COMPILATION_CACHE_DIR" not in jax_environment(threads=1)
