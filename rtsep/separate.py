"""Model specs of the command line as model callables (moves to rtsep.runtime)."""

from __future__ import annotations

import numpy as np

from rtsep.engine.config import StreamConfig
from rtsep.engine.model import ModelFn
from rtsep.engine.offline import OFFLINE_CONFIG
from rtsep.errors import AudioError


def load_model(spec: str, *, stems: np.ndarray | None = None,
               config: StreamConfig | None = None, threads: int | None = None) -> ModelFn:
    """A model callable from a command-line spec.

    Parameters
    ----------
    spec : str
        ``"oracle"`` (needs ``stems``), a model NAME under ``models/`` or a PATH.
    stems : np.ndarray [shape=(4, n, 2)], optional
        True stems, for the oracle.
    """
    if spec == "oracle":
        if stems is None:
            raise AudioError("--model oracle needs the true stems: give a track folder "
                             "(vocals, drums, bass, other) as input")
        from rtsep.engine.oracle import OracleModel

        return OracleModel(stems, config or OFFLINE_CONFIG)
    from rtsep.runtime import load_runtime  # TensorFlow is imported only here

    return load_runtime(spec, threads=threads)
