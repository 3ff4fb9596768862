"""rtsep.live.plan: the worker's plan (model hop, reserve, latency), without JACK."""

import numpy as np
import pytest

from rtsep.errors import ConfigError, ModelError
from rtsep.live.plan import Buffers, WorkerParams, _auto_hop, live_threads, make_plan
from rtsep.runtime.stand_ins import NullModel, RouteModel


def _params(**kw):
    base = dict(period=256, lookahead=0, model_hop="auto", reserve_periods=None, warm_calls=2)
    base.update(kw)
    return WorkerParams(**base)


def test_plan_latency_is_engine_plus_prefill():
    engine, bufs, plan = make_plan(NullModel(), _params(model_hop=2, reserve_periods=3))
    assert plan.model_hop == 2 and plan.reserve_periods == 3
    assert plan.prefill_samples == 4 * 256
    assert plan.engine_latency_samples == engine.latency_samples == 4095 + 1024
    assert plan.latency_samples == 4095 + 1024 + 4 * 256
    assert engine.frames == 0 and engine.model_calls == 0  # reset after timing
    assert isinstance(bufs, Buffers)


def test_auto_hop_and_measured_reserve():
    _, _, plan = make_plan(RouteModel("vocals"), _params())
    assert plan.model_hop == 1 and plan.reserve_periods >= 1 and plan.notes
    assert _auto_hop(t_model=0.030, t_dsp=0.0002, lookahead=0) == 3  # 30 ms per call
    with pytest.raises(ModelError, match="too slow"):
        _auto_hop(t_model=10.0, t_dsp=0.0002, lookahead=0)
    with pytest.raises(ConfigError, match="reserve_periods"):
        make_plan(NullModel(), _params(model_hop=1, reserve_periods=-1))


def test_buffers_apply_gains_channel_major():
    """Gains at start (no ramp), channel-major output: 5 engine outputs, main, mix."""
    from rtsep.live.mixer import CONTROL_FIELDS, N_LIVE, Controls

    class Echo:  # an "engine" that returns its input on every output
        def process(self, block, out):
            out[:] = block[None]

    controls = Controls(np.zeros((N_LIVE, CONTROL_FIELDS)), np.zeros(1, np.int64))
    controls.set_gains((1.0, 0.5, 1.0, 1.0, 0.0, 1.0, 1.0))
    bufs = Buffers(2, controls)
    bufs.block[:3] = np.array([[1, -1], [2, -2], [3, -3]], np.float32)
    cm, count = bufs.process(Echo(), 3)
    assert count == 3
    np.testing.assert_allclose(cm[2, :3], [0.5, 1.0, 1.5], rtol=1e-6)   # drums L
    np.testing.assert_allclose(cm[3, :3], [-0.5, -1.0, -1.5], rtol=1e-6)  # drums R
    assert not cm[8:10, :3].any()  # instrumental muted
    np.testing.assert_array_equal(cm[10, :3], [0, 0, 1])  # main L: the input, 2 samples late
    np.testing.assert_allclose(cm[12, :3], [3.5, 7.0, 10.5], rtol=1e-6)  # mix L: 1 + .5 + 1 + 1


def test_live_threads_leave_one_cpu():
    assert [live_threads(n) for n in (1, 2, 8)] == [1, 1, 7]


# ---------------------------------------------------------------------------------------
# streaming models: the plan times a step, not a window; the worker steps them on JAX
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_stream(tmp_path_factory):
    from rtsep.nn import build_model
    from rtsep.nn.config import ModelConfig
    from rtsep.runtime.artifact import save_artifact

    cfg = ModelConfig.preset("stream_hybrid", "tiny")
    model = build_model(cfg)
    path = save_artifact(tmp_path_factory.mktemp("art") / "tiny-stream", model, cfg)
    return model, cfg, path


def test_auto_hop_of_a_streaming_model_is_one(tiny_stream):
    from rtsep.runtime.stream import StreamRuntime

    model, cfg, _ = tiny_stream
    rt = StreamRuntime(model, cfg, frames=4, warmup_calls=1)
    engine, _, plan = make_plan(rt, _params())
    assert plan.model_hop == 1 and engine.config.model_hop_frames == 1
    assert rt.frames == 1  # compiled for the hop it was timed at
    assert any("streaming model" in n for n in plan.notes), plan.notes
    assert plan.latency_samples == 4095 + (1 + plan.reserve_periods) * 256


def test_worker_backend_env(tiny_stream, monkeypatch, tmp_path):
    from rtsep.live.worker import worker_backend_env
    from rtsep.nn import build_model
    from rtsep.nn.config import ModelConfig
    from rtsep.runtime.artifact import save_artifact
    from rtsep.runtime.stream import jax_available

    _, _, path = tiny_stream
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    env = worker_backend_env(str(path))
    if jax_available():
        assert env["KERAS_BACKEND"] == "jax" and "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]
    else:
        assert env == {}
    window_cfg = ModelConfig.preset("hybrid", "tiny")
    window = save_artifact(tmp_path / "tiny-window", build_model(window_cfg), window_cfg)
    assert worker_backend_env(str(window)) == {}  # a window model: TensorFlow as before
    assert worker_backend_env(RouteModel("vocals")) == {}
    assert worker_backend_env("no-such-model") == {}  # load_model reports it, not this
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the user's choice wins
    assert worker_backend_env(str(path)) == {}


@pytest.mark.parametrize("period, floor", [(64, 11), (128, 6), (256, 3), (1024, 1)])
def test_auto_reserve_is_at_least_15_ms(period, floor):
    """A model that costs nothing still gets a reserve of >= 15 ms (scheduling delays)."""
    _, _, plan = make_plan(NullModel(), _params(period=period, model_hop=1))
    assert plan.reserve_periods >= floor
    assert plan.reserve_periods * period >= 0.015 * 44100


class _Delayed(Buffers):
    """Real buffers whose ``process`` sleeps 30 ms on the chosen calls (a program or the
    hypervisor taking the CPU once, or a block slow by its work every time)."""

    def __init__(self, latency, slow_calls):
        super().__init__(latency, None, None, 44100)
        self.calls, self.slow_calls = 0, slow_calls

    def process(self, engine, n):
        import time

        self.calls += 1
        if self.slow_calls(self.calls):
            time.sleep(0.03)
        return super().process(engine, n)


def test_one_delayed_block_at_start_does_not_set_the_reserve():
    """Each block's time is the lesser of two timed passes: a block delayed once (in the
    first timed pass) does not count, a block slow in every pass does."""
    from rtsep.engine import StreamConfig, StreamingSeparator
    from rtsep.live.plan import _time_blocks

    params = _params(model_hop=1)
    engine = StreamingSeparator(RouteModel("vocals"), StreamConfig(model_hop_frames=1))
    probe = _Delayed(engine.latency_samples, lambda i: False)
    n_blocks = len(_time_blocks(engine, probe, params, np.random.default_rng(0)))
    assert probe.calls == 3 * n_blocks  # one untimed pass, two timed

    once = _Delayed(engine.latency_samples, lambda i: i == n_blocks + 3)  # 1st timed pass
    t = _time_blocks(engine, once, params, np.random.default_rng(0))
    assert t.max() < 0.02, t.max()
    every = _Delayed(engine.latency_samples, lambda i: i % n_blocks == 3)  # block 3, each pass
    t = _time_blocks(engine, every, params, np.random.default_rng(0))
    assert t[2] >= 0.03 and np.delete(t, 2).max() < 0.02, t
