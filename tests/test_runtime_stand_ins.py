"""rtsep.runtime.stand_ins: the test and benchmark models, and --test-model."""

import pickle

import numpy as np
import pytest

from rtsep.engine import Model
from rtsep.errors import ConfigError
from rtsep.runtime.stand_ins import NullModel, RandomKerasModel, RouteModel, parse_test_model


def test_route_model_puts_the_input_on_one_stem():
    mag = np.random.default_rng(0).uniform(0, 1, (2, 1024, 192, 2)).astype(np.float32)
    est = RouteModel("bass")(mag)
    assert est.shape == (2, 4, 1024, 192, 2)
    np.testing.assert_array_equal(est[:, 2], mag)
    assert not est[:, [0, 1, 3]].any()
    with pytest.raises(ConfigError, match="unknown stem"):
        RouteModel("kazoo")


def test_stand_ins_are_models_and_pickle_cheaply():
    for m in (RouteModel("drums", 0.001), RandomKerasModel("unet", "tiny"), NullModel()):
        assert isinstance(m, Model)
        assert type(pickle.loads(pickle.dumps(m))) is type(m)
    assert NullModel()(None).shape == (1, 4, 1024, 192, 2)


def test_parse_test_model():
    m = parse_test_model("route:other:5")
    assert isinstance(m, RouteModel) and m.stem == "other" and m.delay_s == 0.005
    m = parse_test_model("random:hybrid:tiny")
    assert isinstance(m, RandomKerasModel) and (m.arch, m.size) == ("hybrid", "tiny")
    for bad in ("route", "route:vocals:x", "random:d3net", "other:1"):
        with pytest.raises(ConfigError):
            parse_test_model(bad)


def test_a_streaming_null_model_is_driven_frame_by_frame():
    """``NullModel(streaming=True)``: the engine hands it the new frames only (what the
    plan times as a streaming model's DSP), and the stems still sum to the mixture."""
    from rtsep.constants import HOP
    from rtsep.engine import StreamConfig, StreamingSeparator
    from rtsep.engine.model import is_streaming

    assert not is_streaming(NullModel()) and is_streaming(NullModel(streaming=True))
    seen = []

    class Spy(NullModel):
        def step(self, mag):
            seen.append(mag.shape)
            return super().step(mag)

    engine = StreamingSeparator(Spy(streaming=True), StreamConfig(model_hop_frames=2))
    x = np.random.default_rng(1).standard_normal((12 * HOP, 2)).astype(np.float32)
    out = engine.process(x)
    assert seen and set(seen) == {(1, 1024, 2, 2)}
    lat = engine.latency_samples
    np.testing.assert_allclose(out[:4].sum(axis=0)[lat:], x[:-lat], atol=1e-4)
