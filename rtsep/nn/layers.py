"""Custom Keras 3 layers of the rtsep networks (``keras.ops`` only).

Every layer is registered serializable under the package name ``rtsep`` and has a
complete ``get_config``.

Layouts (dimension names as in the rest of rtsep):

- model input/output: ``(batch, bins, frames, channels)`` and
  ``(batch, stems, bins, frames, channels)`` (the fixed model interface);
- *frames-major* ``(batch, frames, bins, channels)``: the hybrid's internal image
  layout, chosen so that one frame's bins are contiguous and turning a frame into
  a token is a free reshape (convolutions do not care which axis is which);
- stem-batched tokens ``(batch, S, frames, d)``: S parallel transformer stacks
  with their own weights, computed by one einsum per projection.
"""

from __future__ import annotations

import keras
from keras import ops

_PKG = "rtsep"


@keras.saving.register_keras_serializable(package=_PKG)
class InputNorm(keras.layers.Layer):
    """Log-compress and normalise magnitudes.

    ``y = log1p(mag)``; minus its mean over bins, frames and channels per example
    (a gain change of the mixture becomes almost a shift in the log domain, and
    this removes it); then a learned per-bin affine map ``scale[bin] * y +
    bias[bin]`` (initialised to 1 and 0).

    Input: (batch, d1, d2, channels) float32 >= 0 with the bins on axis
    ``bin_axis`` (1: (batch, bins, frames, ch); 2: frames-major).
    Output: same shape, float32.
    """

    def __init__(self, n_bins: int, bin_axis: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)
        self.bin_axis = int(bin_axis)
        if self.bin_axis not in (1, 2):
            raise ValueError(f"bin_axis must be 1 or 2, got {bin_axis}")

    def build(self, input_shape):
        shape = (self.n_bins, 1, 1) if self.bin_axis == 1 else (self.n_bins, 1)
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")
        self.bias = self.add_weight(name="bias", shape=shape, initializer="zeros")

    def call(self, mag):
        y = ops.log1p(ops.maximum(mag, 0.0))
        mean = ops.mean(y, axis=(1, 2, 3), keepdims=True)
        # (y - mean) * scale + bias, with the per-example term folded into a small offset
        return y * self.scale + (self.bias - mean * self.scale)

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins, "bin_axis": self.bin_axis}


@keras.saving.register_keras_serializable(package=_PKG)
class SwapBinsFrames(keras.layers.Layer):
    """(batch, a, b, channels) -> (batch, b, a, channels): image layout <-> frames-major."""

    def call(self, x):
        return ops.transpose(x, (0, 2, 1, 3))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], input_shape[1], input_shape[3])


@keras.saving.register_keras_serializable(package=_PKG)
class BinSlice(keras.layers.Layer):
    """Keep indices [start, stop) of axis ``axis`` (the bins: 1 in the image
    layout, 2 frames-major) of a 4-D tensor."""

    def __init__(self, start: int, stop: int, axis: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.stop = int(stop)
        self.axis = int(axis)
        if self.axis not in (1, 2, 3):
            raise ValueError(f"axis must be 1, 2 or 3, got {axis}")

    def call(self, x):
        if self.axis == 1:
            return x[:, self.start:self.stop]
        if self.axis == 2:
            return x[:, :, self.start:self.stop]
        return x[:, :, :, self.start:self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "axis": self.axis}


@keras.saving.register_keras_serializable(package=_PKG)
class AddUpsampled(keras.layers.Layer):
    """``full + nearest_upsample_2x2(half)`` without building the upsampled tensor.

    Inputs: [full (batch, h, w, c), half (batch, h/2, w/2, c)] (h, w even).
    Output: (batch, h, w, c): ``full[:, i, j] + half[:, i // 2, j // 2]``.
    """

    def call(self, inputs):
        full, half = inputs
        h, w, c = full.shape[1], full.shape[2], full.shape[3]
        y = ops.reshape(full, (-1, h // 2, 2, w // 2, 2, c))
        y = y + ops.reshape(half, (-1, h // 2, 1, w // 2, 1, c))
        return ops.reshape(y, (-1, h, w, c))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package=_PKG)
class StemSoftmaxMasks(keras.layers.Layer):
    """Softmax over stems of per-stem logits, times the mixture (image layout).

    Inputs: [logits (batch, bins, frames, ch * n_stems) with channel-major
    order (ch 0 stem 0, ch 0 stem 1, ..., ch 1 stem 0, ...), mag (batch, bins,
    frames, ch)]. Output: (batch, n_stems, bins, frames, ch) float32 >= 0 whose
    sum over stems equals ``mag``. (Stems last, so the softmax runs on the last
    axis: TensorFlow's fast path.)
    """

    def __init__(self, n_stems: int, **kwargs):
        super().__init__(**kwargs)
        self.n_stems = int(n_stems)

    def call(self, inputs):
        logits, mag = inputs
        bins, frames, ch = mag.shape[1], mag.shape[2], mag.shape[3]
        logits = ops.reshape(logits, (-1, bins, frames, ch, self.n_stems))
        masks = ops.softmax(logits, axis=-1)
        est = masks * ops.expand_dims(ops.maximum(mag, 0.0), -1)
        return ops.transpose(est, (0, 4, 1, 2, 3))

    def compute_output_shape(self, input_shape):
        mag_shape = input_shape[1]
        return (mag_shape[0], self.n_stems, *mag_shape[1:])

    def get_config(self):
        return {**super().get_config(), "n_stems": self.n_stems}


@keras.saving.register_keras_serializable(package=_PKG)
class ApplyMasksFramesMajor(keras.layers.Layer):
    """Frames-major masks times the mixture, returned in the model's output layout.

    Inputs: [masks (batch, frames, bins, n_stems * ch) stem-major channels,
    mag (batch, bins, frames, ch) in the model's input layout]. Output:
    (batch, n_stems, bins, frames, ch) float32 = ``mask * max(mag, 0)``.
    (Transposing the masks first and multiplying with the stem axis broadcast
    outermost is twice as fast on a CPU as the other order.)
    """

    def __init__(self, n_stems: int, **kwargs):
        super().__init__(**kwargs)
        self.n_stems = int(n_stems)

    def call(self, inputs):
        masks, mag = inputs
        bins, frames, ch = mag.shape[1], mag.shape[2], mag.shape[3]
        masks = ops.reshape(masks, (-1, frames, bins, self.n_stems, ch))
        masks = ops.transpose(masks, (0, 3, 2, 1, 4))
        return masks * ops.expand_dims(ops.maximum(mag, 0.0), 1)

    def compute_output_shape(self, input_shape):
        mag_shape = input_shape[1]
        return (mag_shape[0], self.n_stems, *mag_shape[1:])

    def get_config(self):
        return {**super().get_config(), "n_stems": self.n_stems}


# --- Stem-batched transformer layers: tokens (batch, S, frames, d) -----------------
# (Stems before frames: for batch 1 the per-stem einsums need no data movement.)
# Per-stem vectors are stored as (S, d) weights and broadcast as (S, 1, d).


def _per_stem(w):
    """(S, n) per-stem vector -> (S, 1, n), to broadcast over frames."""
    return ops.expand_dims(w, 1)


def _stem_layer_norm(x, gamma, beta, eps: float = 1e-5):
    mean = ops.mean(x, axis=-1, keepdims=True)
    var = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * ops.rsqrt(var + eps) * _per_stem(gamma) + _per_stem(beta)


@keras.saving.register_keras_serializable(package=_PKG)
class StemEmbed(keras.layers.Layer):
    """Per-stem linear token embedding plus learned position embedding.

    Input: frames-major features (batch, frames, bins, ch); every frame (all its
    bins of both channels) becomes one token per stem: stem s gets
    ``W_s x_t + b_s + pos_s[t]`` (the seed's linear "1024x1 convolution").
    Output: (batch, n_stems, frames, d) float32.
    """

    def __init__(self, n_stems: int, d: int, **kwargs):
        super().__init__(**kwargs)
        self.n_stems = int(n_stems)
        self.d = int(d)

    def build(self, input_shape):
        frames, feats = int(input_shape[1]), int(input_shape[2]) * int(input_shape[3])
        self.kernel = self.add_weight(name="kernel", shape=(feats, self.n_stems * self.d),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.n_stems * self.d,), initializer="zeros")
        self.position = self.add_weight(name="position", shape=(frames, self.n_stems, self.d),
                                        initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x):
        frames = x.shape[1]
        tokens = ops.reshape(x, (-1, frames, x.shape[2] * x.shape[3]))
        h = ops.matmul(tokens, self.kernel) + self.bias
        h = ops.reshape(h, (-1, frames, self.n_stems, self.d)) + self.position
        return ops.transpose(h, (0, 2, 1, 3))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_stems, input_shape[1], self.d)

    def get_config(self):
        return {**super().get_config(), "n_stems": self.n_stems, "d": self.d}


def add_attention_weights(layer: keras.layers.Layer, s: int, d: int) -> None:
    """The weights of a pre-norm attention block over ``s`` stem stacks of size ``d``,
    created on ``layer`` (the same names, shapes and order for every attention layer,
    so weights move between architectures by path): ``gamma``, ``beta`` (s, d) of the
    layer norm; ``w_q`` (s, d, d), ``b_q``; ``w_kv`` (s, d, 2 d), ``b_kv``; ``w_o``
    (s, d, d), ``b_o``."""
    glorot = "glorot_uniform"
    layer.gamma = layer.add_weight(name="gamma", shape=(s, d), initializer="ones")
    layer.beta = layer.add_weight(name="beta", shape=(s, d), initializer="zeros")
    layer.w_q = layer.add_weight(name="w_q", shape=(s, d, d), initializer=glorot)
    layer.b_q = layer.add_weight(name="b_q", shape=(s, d), initializer="zeros")
    layer.w_kv = layer.add_weight(name="w_kv", shape=(s, d, 2 * d), initializer=glorot)
    layer.b_kv = layer.add_weight(name="b_kv", shape=(s, 2 * d), initializer="zeros")
    layer.w_o = layer.add_weight(name="w_o", shape=(s, d, d), initializer=glorot)
    layer.b_o = layer.add_weight(name="b_o", shape=(s, d), initializer="zeros")


@keras.saving.register_keras_serializable(package=_PKG)
class StemAttention(keras.layers.Layer):
    """Pre-norm residual multi-head attention for S stem stacks at once.

    ``cross=False``: each stack attends to itself. ``cross=True`` (S = 2): stack
    s takes queries from itself and keys/values from the other stack (vocals
    attend to drums and drums to vocals), each direction with its own weights:
    ``x_s + W_o,s attention(q_s, k_other, v_other)``.

    Input/output: (batch, S, frames, d) float32; ``d % n_heads == 0``.
    """

    def __init__(self, n_heads: int, cross: bool = False, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_heads = int(n_heads)
        self.cross = bool(cross)
        self.dropout = float(dropout)

    def build(self, input_shape):
        s, d = int(input_shape[1]), int(input_shape[3])
        if self.cross and s != 2:
            raise ValueError(f"cross attention needs exactly 2 stem stacks, got {s}")
        if d % self.n_heads:
            raise ValueError(f"token size {d} is not divisible by n_heads {self.n_heads}")
        add_attention_weights(self, s, d)
        self.drop = keras.layers.Dropout(self.dropout)

    def call(self, x, training=None):
        s, t, d = x.shape[1], x.shape[2], x.shape[3]
        nh, dh = self.n_heads, d // self.n_heads
        h = _stem_layer_norm(x, self.gamma, self.beta)
        src = ops.flip(h, axis=1) if self.cross else h
        q = ops.einsum("bstd,sde->bste", h, self.w_q) + _per_stem(self.b_q)
        kv = ops.einsum("bstd,sde->bste", src, self.w_kv) + _per_stem(self.b_kv)
        q = ops.reshape(q, (-1, s, t, nh, dh))
        kv = ops.reshape(kv, (-1, s, t, 2, nh, dh))
        k, v = kv[:, :, :, 0], kv[:, :, :, 1]
        scores = ops.einsum("bsqhe,bskhe->bshqk", q, k) * (1.0 / float(dh) ** 0.5)
        p = self.drop(ops.softmax(scores, axis=-1), training=training)
        o = ops.reshape(ops.einsum("bshqk,bskhe->bsqhe", p, v), (-1, s, t, d))
        return x + ops.einsum("bstd,sde->bste", o, self.w_o) + _per_stem(self.b_o)

    def get_config(self):
        return {**super().get_config(), "n_heads": self.n_heads, "cross": self.cross,
                "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=_PKG)
class StemFeedForward(keras.layers.Layer):
    """Pre-norm residual feed-forward block for S stem stacks:
    ``x_s + W2_s gelu(W1_s LN_s(x_s))``. Input/output: (batch, S, frames, d)."""

    def __init__(self, hidden: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)
        self.dropout = float(dropout)

    def build(self, input_shape):
        s, d = int(input_shape[1]), int(input_shape[3])
        self.gamma = self.add_weight(name="gamma", shape=(s, d), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(s, d), initializer="zeros")
        self.w_1 = self.add_weight(name="w_1", shape=(s, d, self.hidden), initializer="glorot_uniform")
        self.b_1 = self.add_weight(name="b_1", shape=(s, self.hidden), initializer="zeros")
        self.w_2 = self.add_weight(name="w_2", shape=(s, self.hidden, d), initializer="glorot_uniform")
        self.b_2 = self.add_weight(name="b_2", shape=(s, d), initializer="zeros")
        self.drop = keras.layers.Dropout(self.dropout)

    def call(self, x, training=None):
        h = _stem_layer_norm(x, self.gamma, self.beta)
        h = ops.gelu(ops.einsum("bstd,sde->bste", h, self.w_1) + _per_stem(self.b_1))
        h = ops.einsum("bstd,sde->bste", h, self.w_2) + _per_stem(self.b_2)
        return x + self.drop(h, training=training)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=_PKG)
class StemUnembed(keras.layers.Layer):
    """Per-stem final layer norm and linear map from tokens back to bins.

    Input: (batch, S, frames, d). Output: (batch, S, frames, n_bins * ch)
    logits (``n_bins`` bins of ``n_channels`` channels, channel fastest), padded
    with the constant ``pad_value`` up to ``total_bins`` bins (the bass stack
    covers only the low bins).
    """

    def __init__(self, n_bins: int, n_channels: int = 2, total_bins: int | None = None,
                 pad_value: float = -30.0, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)
        self.n_channels = int(n_channels)
        self.total_bins = int(total_bins) if total_bins is not None else self.n_bins
        self.pad_value = float(pad_value)

    def build(self, input_shape):
        s, d = int(input_shape[1]), int(input_shape[3])
        f = self.n_bins * self.n_channels
        self.gamma = self.add_weight(name="gamma", shape=(s, d), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(s, d), initializer="zeros")
        self.kernel = self.add_weight(name="kernel", shape=(s, d, f), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(s, f), initializer="zeros")

    def call(self, x):
        h = _stem_layer_norm(x, self.gamma, self.beta)
        h = ops.einsum("bstd,sdf->bstf", h, self.kernel) + _per_stem(self.bias)
        pad = (self.total_bins - self.n_bins) * self.n_channels
        if pad:
            h = ops.pad(h, ((0, 0), (0, 0), (0, 0), (0, pad)), constant_values=self.pad_value)
        return h

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.total_bins * self.n_channels)

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins, "n_channels": self.n_channels,
                "total_bins": self.total_bins, "pad_value": self.pad_value}


@keras.saving.register_keras_serializable(package=_PKG)
class StemsToChannels(keras.layers.Layer):
    """(batch, S, frames, bins * ch) -> frames-major (batch, frames, bins, S * ch),
    stem-major channels (stem 0 ch 0, stem 0 ch 1, stem 1 ch 0, ...)."""

    def __init__(self, n_bins: int, n_channels: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)
        self.n_channels = int(n_channels)

    def call(self, x):
        s, t = x.shape[1], x.shape[2]
        h = ops.reshape(x, (-1, s, t, self.n_bins, self.n_channels))
        h = ops.transpose(h, (0, 2, 3, 1, 4))
        return ops.reshape(h, (-1, t, self.n_bins, s * self.n_channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], self.n_bins, input_shape[1] * self.n_channels)

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins, "n_channels": self.n_channels}
