"""rtsep.runtime.loader: the one load_model, for callables, the oracle and names.

(Loading a real artifact is tested in test_runtime_compiled.py.)"""

import numpy as np
import pytest

from rtsep.engine import StreamConfig
from rtsep.engine.oracle import OracleModel
from rtsep.errors import AudioError, ModelError
from rtsep.runtime import load_model


def test_a_callable_is_returned_as_it_is():
    def fn(mag):
        return mag

    assert load_model(fn) is fn


def test_oracle_needs_stems_and_takes_the_config():
    with pytest.raises(AudioError, match="true stems"):
        load_model("oracle")
    cfg = StreamConfig(model_hop_frames=3)
    m = load_model("oracle", stems=np.zeros((4, 5000, 2), np.float32), config=cfg)
    assert isinstance(m, OracleModel) and m.config is cfg


def test_a_missing_name_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("RTSEP_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="not found.*no models in"):
        load_model("nothing-here")
