"""rtsep.engine.model: the model interface (a Protocol), plain callables adapted once."""

import numpy as np
import pytest

from rtsep.engine import Model, StatelessModel, StreamConfig, StreamingSeparator, as_model
from rtsep.engine.model import check_estimates
from rtsep.engine.oracle import OracleModel
from rtsep.errors import ModelError


class Recorder(StatelessModel):
    """A model that records the hooks the engine calls."""

    def __init__(self):
        self.events = []

    def __call__(self, mag):
        self.events.append("call")
        return np.zeros((mag.shape[0], 4) + mag.shape[1:], np.float32)

    def bind(self, config):
        self.events.append(("bind", config.model_hop_frames))

    def reset(self):
        self.events.append("reset")


def test_plain_callables_get_no_op_hooks():
    def fn(mag):
        return mag

    m = as_model(fn)
    assert isinstance(m, Model) and m(3) == 3
    m.bind(StreamConfig())
    m.reset()
    rec = Recorder()
    assert as_model(rec) is rec
    assert isinstance(OracleModel(np.zeros((4, 100, 2), np.float32)), Model)
    with pytest.raises(ModelError, match="callable"):
        as_model(42)


def test_engine_binds_then_resets_the_model():
    rec = Recorder()
    eng = StreamingSeparator(rec, StreamConfig(model_hop_frames=2))
    assert rec.events == [("bind", 2), "reset"]
    eng.process(np.zeros((4 * 1024, 2), np.float32))
    assert rec.events.count("call") == 2
    eng.reset()
    assert rec.events[-1] == "reset"
    assert eng.model is rec


def test_check_estimates():
    est = check_estimates(np.zeros((2, 4, 1024, 192, 2), np.float64), 2)
    assert est.dtype == np.float32
    with pytest.raises(ModelError, match=r"expected \(1, 4, 1024, 192, 2\)"):
        check_estimates(np.zeros((1, 3, 1024, 192, 2), np.float32), 1)
