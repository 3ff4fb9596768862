"""The model interface: what the engines call, declared once.

A model maps a batch of magnitude windows to four non-negative stem estimates::

    model(mag np.ndarray [shape=(B, 1024, 192, 2), float32])
        -> est np.ndarray [shape=(B, 4, 1024, 192, 2), float32]

and has two hooks the engines call: ``bind(config)`` when an engine starts using it
(a stateful model such as :class:`rtsep.engine.oracle.OracleModel` learns which
windows will come) and ``reset()`` when the engine forgets its audio. A plain callable
is a model too: :func:`as_model` gives it hooks that do nothing.

A *streaming* model (``streaming = True``, :class:`StreamingModel`, such as
:class:`rtsep.runtime.stream.StreamRuntime`) is causal and keeps its own state: the
engines give it only the ``K`` new frames of each hop, ``step(mag (1, 1024, K, 2))
-> est (1, 4, 1024, K, 2)``, in stream order from the last ``reset()``; it takes no
look-ahead.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.engine.config import StreamConfig
from rtsep.errors import ModelError

ModelFn = Callable[[np.ndarray], np.ndarray]
"""A plain callable ``model(mag (B, 1024, 192, 2)) -> est (B, 4, 1024, 192, 2)``."""


@runtime_checkable
class Model(Protocol):
    """The model interface the engines call (see the module docstring)."""

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """Estimates for a batch of windows.

        Parameters
        ----------
        mag : np.ndarray [shape=(B, MODEL_BINS, MODEL_FRAMES, 2), dtype=float32]

        Returns
        -------
        np.ndarray [shape=(B, N_STEMS, MODEL_BINS, MODEL_FRAMES, 2), dtype=float32]
        """

    def bind(self, config: StreamConfig) -> None:
        """An engine running with ``config`` starts calling the model."""

    def reset(self) -> None:
        """The engine forgot its audio; the next call is its first window again."""


@runtime_checkable
class StreamingModel(Protocol):
    """A causal model that keeps its own state (see the module docstring)."""

    streaming: bool

    def step(self, mag: np.ndarray) -> np.ndarray:
        """Estimates for the next frames of the stream.

        Parameters
        ----------
        mag : np.ndarray [shape=(1, MODEL_BINS, K, 2), dtype=float32]

        Returns
        -------
        np.ndarray [shape=(1, N_STEMS, MODEL_BINS, K, 2), dtype=float32]
        """

    def bind(self, config: StreamConfig) -> None:
        """An engine running with ``config`` (look-ahead 0, ``K`` = its model hop) starts."""

    def reset(self) -> None:
        """Start a new stream."""


def is_streaming(model) -> bool:
    """Whether engines must drive ``model`` frame by frame (:class:`StreamingModel`)."""
    return bool(getattr(model, "streaming", False)) and callable(getattr(model, "step", None))


class StatelessModel:
    """Base of models without state between calls: :meth:`bind` and :meth:`reset` do nothing."""

    def bind(self, config: StreamConfig) -> None:
        """Nothing to do: the model's output depends on its input only."""

    def reset(self) -> None:
        """Nothing to do: the model keeps no state."""


class _Plain(StatelessModel):
    """A plain callable as a :class:`Model`."""

    __slots__ = ("fn",)

    def __init__(self, fn: ModelFn):
        self.fn = fn

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        return self.fn(mag)


def as_model(model) -> Model:
    """``model`` itself when it has the hooks of :class:`Model`, else wrapped with no-op hooks.

    Raises
    ------
    ModelError
        ``model`` is not callable.
    """
    if isinstance(model, Model):
        return model
    if not callable(model):
        raise ModelError(f"a model must be callable (mag -> est), got {type(model).__name__}")
    return _Plain(model)


def check_estimates(est, batch: int, frames: int = MODEL_FRAMES) -> np.ndarray:
    """Validate a model's output once and return it as a float32 array.

    Parameters
    ----------
    est : array-like
        What the model returned.
    batch : int
        The batch the model was given.
    frames : int
        The frames it was given (a window's, or a streaming step's ``K``).

    Returns
    -------
    np.ndarray [shape=(batch, N_STEMS, MODEL_BINS, frames, N_CHANNELS), dtype=float32]

    Raises
    ------
    ModelError
        Another shape.
    """
    est = np.asarray(est)
    want = (batch, N_STEMS, MODEL_BINS, frames, N_CHANNELS)
    if est.shape != want:
        raise ModelError(f"the model returned an array of shape {est.shape}, expected {want} "
                         "(batch, stems, bins, frames, channels)")
    if est.dtype != np.float32:
        est = est.astype(np.float32)
    return est
