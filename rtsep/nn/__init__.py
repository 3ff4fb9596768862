"""Keras 3 networks of rtsep (``keras.ops`` only; run on TensorFlow or JAX).

Every architecture maps magnitudes ``mag`` float32 (batch, 1024, 192, 2) =
(batch, bins, frames, channels) to non-negative stem estimates float32
(batch, 4, 1024, 192, 2) in :data:`rtsep.constants.STEMS` order.

Importing this package is cheap: Keras is imported by :func:`build_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtsep.nn.config import ARCHS, SIZES, HybridConfig, ModelConfig, UNetConfig

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["ARCHS", "SIZES", "HybridConfig", "ModelConfig", "UNetConfig", "build_model",
           "count_params", "transfer_weights"]


def build_model(config: ModelConfig) -> "keras.Model":
    """Build the (untrained) Keras model that ``config`` describes.

    Args:
        config: a validated :class:`ModelConfig`.

    Returns:
        A functional ``keras.Model``: input (batch, 1024, 192, 2) float32,
        output (batch, 4, 1024, 192, 2) float32 >= 0.
    """
    if not isinstance(config, ModelConfig):
        from rtsep.errors import ConfigError
        raise ConfigError(f"build_model needs a rtsep.nn.ModelConfig, got {type(config).__name__}")
    if config.arch.startswith("stream_"):
        from rtsep.nn.stream import build_stream_model
        return build_stream_model(config.arch, config.net)
    if config.arch == "unet":
        from rtsep.nn.unet import build_unet
        return build_unet(config.net)
    from rtsep.nn.hybrid import build_hybrid
    return build_hybrid(config.net)


def count_params(model: "keras.Model") -> int:
    """Number of scalars in the model's weights (trainable and not)."""
    import numpy as np
    return int(sum(int(np.prod(w.shape)) for w in model.weights))


def transfer_weights(src: "keras.Model", dst: "keras.Model") -> tuple[list[str], list[str]]:
    """Copy into ``dst`` every weight of ``src`` with the same path and shape.

    A warm start across architectures that share layers (the ``stream_hybrid`` reuses
    the ``hybrid``'s token embeddings, attention, feed-forward and output projections,
    under the same layer names).

    Parameters
    ----------
    src, dst : keras.Model
        Built models.

    Returns
    -------
    (copied, kept) : list of str, list of str
        Paths of ``dst``'s weights copied from ``src``, and of those left as they were.
    """
    have = {w.path: w for w in src.weights}
    copied, kept = [], []
    for w in dst.weights:
        s = have.get(w.path)
        if s is not None and tuple(s.shape) == tuple(w.shape):
            w.assign(s.numpy() if hasattr(s, "numpy") else s.value)
            copied.append(w.path)
        else:
            kept.append(w.path)
    return copied, kept
