"""The seed's v0.1 U-Net, and the U-Net trunk the hybrid reuses.

Layout: Keras image layout (batch, bins, frames, channels), bins as rows.
"""

from __future__ import annotations

import keras

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.errors import ConfigError
from rtsep.nn.config import UNetConfig
from rtsep.nn.layers import InputNorm, StemSoftmaxMasks


def _conv_block(x, filters: int, kernel: int, stride: int, transpose: bool,
                batch_norm: bool, activation: str, name: str):
    """Conv (or transposed conv), optional batch norm, activation.

    ``x`` may be a list of tensors: then it is convolved as if concatenated on
    the channel axis, without building the concatenation (one conv per input,
    summed: cheaper when the inputs are at full resolution).
    """
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    if isinstance(x, list):
        parts = [keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                                     use_bias=(j == 0 and not batch_norm), name=f"{name}_conv{j}")(xj)
                 for j, xj in enumerate(x)]
        x = keras.layers.Add(name=f"{name}_sum")(parts)
    else:
        x = conv(filters, kernel, strides=stride, padding="same", use_bias=not batch_norm,
                 name=f"{name}_conv")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=f"{name}_bn")(x)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")(x)
    return keras.layers.Activation(activation, name=f"{name}_act")(x)


def unet_logits(x, cfg: UNetConfig, n_out: int, name: str):
    """Apply a U-Net to the features ``x``; return ``n_out`` logit maps.

    Args:
        x: Keras tensor (batch, h, w, c_in) (either image layout: h, w may be
            bins, frames or frames, bins); h and w divisible by
            ``2 ** len(cfg.filters)``. Or a list of such tensors (same h, w),
            treated as their channel concatenation without building it.
        cfg: the U-Net's sizes.
        n_out: output channels (no activation).
        name: prefix of every layer name (unique within the model).

    Returns:
        Keras tensor (batch, h, w, n_out) of logits; (batch, h/2, w/2, n_out)
        if ``cfg.output_stride == 2``.

    Encoder level i: stride-2 conv with ``cfg.filters[i]`` channels (batch norm,
    leaky ReLU). Its output is thinned by a 1x1 conv to ``cfg.skip_filters[i]``
    channels and concatenated to the decoder at the same resolution. Decoder:
    stride-2 transposed convs (batch norm, ReLU); the last one returns to full
    resolution and gives the logits directly (or, with ``output_stride`` 2, a
    1x1 conv at half resolution gives them). Nothing with many channels is ever
    computed at full resolution: on a CPU those tensors cost more than the
    arithmetic.
    """
    levels = len(cfg.filters)
    skips = []
    inputs = list(x) if isinstance(x, (list, tuple)) else [x]
    h = inputs[0] if len(inputs) == 1 else inputs
    for i, f in enumerate(cfg.filters):
        h = _conv_block(h, f, cfg.kernel_size, 2, False, cfg.batch_norm, "leaky_relu", f"{name}_enc{i}")
        if i < levels - 1 and cfg.skip_filters[i] > 0:
            skips.append(keras.layers.Conv2D(cfg.skip_filters[i], 1, name=f"{name}_skip{i}")(h))
        else:
            skips.append(None)
    for i in range(levels - 1, 0, -1):
        h = _conv_block(h, cfg.filters[i - 1], cfg.kernel_size, 2, True, cfg.batch_norm, "relu",
                        f"{name}_dec{i}")
        if cfg.dropout > 0 and i >= levels - 2:
            h = keras.layers.Dropout(cfg.dropout, name=f"{name}_drop{i}")(h)
        if skips[i - 1] is not None:
            h = keras.layers.Concatenate(axis=-1, name=f"{name}_cat{i}")([h, skips[i - 1]])
    if cfg.output_stride == 2:  # 1x1: the transposed conv before it mixed neighbours already
        return keras.layers.Conv2D(n_out, 1, name=f"{name}_out")(h)
    return keras.layers.Conv2DTranspose(n_out, cfg.kernel_size, strides=2, padding="same",
                                        name=f"{name}_out")(h)


def build_unet(cfg: UNetConfig) -> keras.Model:
    """The ``unet`` architecture.

    Input ``mag``: (batch, 1024, 192, 2) float32 magnitudes.
    Output: (batch, 4, 1024, 192, 2) float32 stem estimates: a softmax over the
    four stems per (bin, frame, channel) times the input, so they sum to ``mag``.
    Internally the U-Net works in the image layout (bins as rows) and its 8
    output channels are ordered (channel, stem).
    """
    if cfg.output_stride != 1:
        raise ConfigError(f"the unet architecture needs output_stride 1, got {cfg.output_stride}")
    mag = keras.Input((MODEL_BINS, MODEL_FRAMES, N_CHANNELS), name="mag")
    x = InputNorm(MODEL_BINS, name="input_norm")(mag)
    logits = unet_logits(x, cfg, N_STEMS * N_CHANNELS, "unet")
    est = StemSoftmaxMasks(N_STEMS, name="stems")([logits, mag])
    return keras.Model(mag, est, name="rtsep_unet")
