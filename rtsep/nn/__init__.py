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
           "count_params"]


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
