"""rtsep.live.plan: the worker's plan (model hop, reserve, latency), without JACK."""

import numpy as np
import pytest

from rtsep.errors import ConfigError, ModelError
from rtsep.live.plan import Buffers, WorkerParams, _auto_hop, live_threads, make_plan
from rtsep.runtime.stand_ins import NullModel, RouteModel


def _params(**kw):
    base = dict(period=256, lookahead=0, model_hop="auto", reserve_periods=None,
                gains=(1.0,) * 5, warm_calls=2)
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
    class Echo:  # an "engine" that returns its input on every output
        def process(self, block, out):
            out[:] = block[None]

    bufs = Buffers(gains=(1.0, 0.5, 1.0, 1.0, 0.0))
    bufs.block[:3] = np.array([[1, -1], [2, -2], [3, -3]], np.float32)
    cm = bufs.process(Echo(), 3)
    np.testing.assert_array_equal(cm[2, :3], [0.5, 1.0, 1.5])   # drums L
    np.testing.assert_array_equal(cm[3, :3], [-0.5, -1.0, -1.5])  # drums R
    assert not cm[8:10, :3].any()  # instrumental muted


def test_live_threads_leave_one_cpu():
    assert [live_threads(n) for n in (1, 2, 8)] == [1, 1, 7]
