"""The one model loader: a model spec (or a model) to a callable of the model interface."""

from __future__ import annotations

import os

import numpy as np

from rtsep.engine.config import StreamConfig
from rtsep.engine.model import ModelFn
from rtsep.errors import AudioError


def load_model(spec, *, stems: np.ndarray | None = None, config: StreamConfig | None = None,
               threads: int | None = None, batch_size: int = 1, warmup_calls: int = 3,
               inter_op_threads: int = 1, frames: int = 1) -> ModelFn:
    """A model callable (:mod:`rtsep.engine.model`) from what a user names.

    Parameters
    ----------
    spec : str, os.PathLike or callable
        A callable is returned as it is; ``"oracle"`` is the ideal-ratio-mask oracle
        of ``stems``; anything else is an artifact folder or a model NAME under the
        models folder (:func:`rtsep.runtime.artifact.resolve_model_path`), loaded,
        compiled and warmed as a :class:`rtsep.runtime.compiled.ModelRuntime` (a
        ``stream_*`` architecture as a :class:`rtsep.runtime.stream.StreamRuntime`).
    stems : np.ndarray [shape=(4, n_samples, 2), dtype=float32], optional
        The true stems, for the oracle.
    config : StreamConfig, optional
        The oracle's stream config (the engine that uses it binds its own).
    threads : int, optional
        CPU intra-op threads of TensorFlow (None: all CPUs of the process). Takes
        effect only if TensorFlow has not run anything yet in this process.
    batch_size : int
        The batch of the runtime's fixed-shape compiled function (other batch sizes
        work too, through a dynamic-batch function traced on first use).
    warmup_calls : int
        Calls made before returning (0: none).
    inter_op_threads : int
        TensorFlow inter-op threads.
    frames : int
        Frames per step a streaming model is first compiled for (an engine binding
        it with another model hop recompiles it).

    Returns
    -------
    callable
        ``model(mag (B, 1024, 192, 2)) -> est (B, 4, 1024, 192, 2)``.

    Raises
    ------
    AudioError
        ``"oracle"`` without stems.
    ModelError
        A missing or corrupt artifact (see :func:`rtsep.runtime.artifact.load_artifact`).
    """
    if callable(spec):
        return spec
    if spec == "oracle":
        if stems is None:
            raise AudioError("--model oracle needs the true stems: give a track folder "
                             "(vocals, drums, bass, other) as input")
        from rtsep.engine.offline import OFFLINE_CONFIG
        from rtsep.engine.oracle import OracleModel

        return OracleModel(stems, config or OFFLINE_CONFIG)
    return _load_runtime(spec, threads=threads, batch_size=batch_size, warmup_calls=warmup_calls,
                         inter_op_threads=inter_op_threads, frames=frames)


def _load_runtime(spec: str | os.PathLike, *, threads, batch_size, warmup_calls, inter_op_threads,
                  frames):
    from rtsep.runtime.artifact import load_artifact, resolve_model_path

    path = resolve_model_path(spec)  # fail fast, before importing TensorFlow
    import keras  # TensorFlow is imported only here

    from rtsep.runtime.compiled import ModelRuntime, configure_tensorflow_threads

    threads_info = None
    if keras.backend.backend() == "tensorflow":
        threads_info = configure_tensorflow_threads(threads, inter_op_threads)
    art = load_artifact(path)
    if art.config.arch.startswith("stream_"):
        from rtsep.runtime.stream import StreamRuntime

        return StreamRuntime(art.model, art.config, frames=frames, warmup_calls=warmup_calls,
                             path=art.path, card_text=art.card_text)
    return ModelRuntime(art.model, art.config, batch_size=batch_size, warmup_calls=warmup_calls,
                        path=art.path, card_text=art.card_text, threads_info=threads_info)
