"""Custom Keras 3 layers of the rtsep networks (``keras.ops`` only).

Every layer is registered serializable under the package name ``rtsep`` and has a
complete ``get_config``. Shapes use the names of the rest of rtsep:
``batch, bins, frames, channels`` (the Keras image layout is
``(batch, bins, frames, channels)``: bins are rows, frames columns) and, for
token sequences, ``(batch, frames, d)``.
"""

from __future__ import annotations

import keras
from keras import ops

_PKG = "rtsep"


@keras.saving.register_keras_serializable(package=_PKG)
class InputNorm(keras.layers.Layer):
    """Log-compress and normalise magnitudes.

    ``y = log1p(mag)``; then per example, ``(y - mean) / (std + 0.1)`` over all
    bins, frames and channels (a gain change of the mixture becomes almost a
    shift, which this removes); then a learned per-bin affine map
    (``scale[bin] * y + bias[bin]``, initialised to 1 and 0).

    Input: (batch, bins, frames, channels) float32 >= 0.
    Output: same shape, float32.
    """

    def __init__(self, n_bins: int, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(self.n_bins, 1, 1), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(self.n_bins, 1, 1), initializer="zeros")

    def call(self, mag):
        y = ops.log1p(ops.maximum(mag, 0.0))
        mean = ops.mean(y, axis=(1, 2, 3), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(y - mean), axis=(1, 2, 3), keepdims=True))
        y = (y - mean) / (std + 0.1)
        return y * self.scale + self.bias

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins}


@keras.saving.register_keras_serializable(package=_PKG)
class LogCompress(keras.layers.Layer):
    """``log1p(max(x, 0))``, elementwise (used on separated stems fed onward).

    Input/output: any shape, float32.
    """

    def call(self, x):
        return ops.log1p(ops.maximum(x, 0.0))


@keras.saving.register_keras_serializable(package=_PKG)
class FramesToTokens(keras.layers.Layer):
    """(batch, bins, frames, channels) -> (batch, frames, bins * channels).

    One token per frame holding all its bins of both channels (channel fastest).
    """

    def call(self, x):
        bins, frames, ch = x.shape[1], x.shape[2], x.shape[3]
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (-1, frames, bins * ch))


@keras.saving.register_keras_serializable(package=_PKG)
class TokensToFrames(keras.layers.Layer):
    """(batch, frames, bins * channels) -> (batch, bins, frames, channels).

    Inverse of :class:`FramesToTokens`.
    """

    def __init__(self, n_bins: int, n_channels: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)
        self.n_channels = int(n_channels)

    def call(self, x):
        frames = x.shape[1]
        x = ops.reshape(x, (-1, frames, self.n_bins, self.n_channels))
        return ops.transpose(x, (0, 2, 1, 3))

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins, "n_channels": self.n_channels}


@keras.saving.register_keras_serializable(package=_PKG)
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding per position: (batch, length, d) -> same.

    Initialised small (normal, std 0.02).
    """

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        self.length = int(length)

    def build(self, input_shape):
        self.embedding = self.add_weight(
            name="embedding", shape=(self.length, int(input_shape[-1])),
            initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x):
        return x + self.embedding

    def get_config(self):
        return {**super().get_config(), "length": self.length}


@keras.saving.register_keras_serializable(package=_PKG)
class FeedForward(keras.layers.Layer):
    """Pre-norm residual feed-forward block: ``x + W2 gelu(W1 LN(x))``.

    Input/output: (batch, length, d) float32.
    """

    def __init__(self, hidden: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)
        self.dropout = float(dropout)

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.dense1 = keras.layers.Dense(self.hidden, activation="gelu", name="dense1")
        self.dense2 = keras.layers.Dense(d, name="dense2")
        self.drop = keras.layers.Dropout(self.dropout, name="drop")
        self.norm.build(input_shape)
        self.dense1.build(input_shape)
        self.dense2.build((*input_shape[:-1], self.hidden))

    def call(self, x, training=None):
        h = self.dense2(self.dense1(self.norm(x)))
        return x + self.drop(h, training=training)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=_PKG)
class SelfAttention(keras.layers.Layer):
    """Pre-norm residual multi-head self-attention: ``x + MHA(LN(x), LN(x))``.

    Input/output: (batch, length, d) float32; ``d % n_heads == 0``.
    """

    def __init__(self, n_heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_heads = int(n_heads)
        self.dropout = float(dropout)

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm")
        self.mha = keras.layers.MultiHeadAttention(
            self.n_heads, d // self.n_heads, dropout=self.dropout, name="mha")
        self.norm.build(input_shape)
        self.mha.build(input_shape, input_shape)

    def call(self, x, training=None):
        h = self.norm(x)
        return x + self.mha(h, h, training=training)

    def get_config(self):
        return {**super().get_config(), "n_heads": self.n_heads, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=_PKG)
class CrossAttention(keras.layers.Layer):
    """Two token streams attend to each other (the seed's vocals<->drums link).

    ``a' = a + MHA_a(LN_a(a), LN_b(b))`` and ``b' = b + MHA_b(LN_b(b), LN_a(a))``,
    both computed from the inputs (neither sees the other's update).

    Input: [a, b], each (batch, length, d) float32. Output: [a', b'], same shapes.
    """

    def __init__(self, n_heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_heads = int(n_heads)
        self.dropout = float(dropout)

    def build(self, input_shape):
        shape_a, shape_b = input_shape
        d = int(shape_a[-1])
        self.norm_a = keras.layers.LayerNormalization(epsilon=1e-5, name="norm_a")
        self.norm_b = keras.layers.LayerNormalization(epsilon=1e-5, name="norm_b")
        self.mha_a = keras.layers.MultiHeadAttention(
            self.n_heads, d // self.n_heads, dropout=self.dropout, name="mha_a")
        self.mha_b = keras.layers.MultiHeadAttention(
            self.n_heads, d // self.n_heads, dropout=self.dropout, name="mha_b")
        self.norm_a.build(shape_a)
        self.norm_b.build(shape_b)
        self.mha_a.build(shape_a, shape_b)
        self.mha_b.build(shape_b, shape_a)

    def call(self, inputs, training=None):
        a, b = inputs
        na, nb = self.norm_a(a), self.norm_b(b)
        return [a + self.mha_a(na, nb, training=training),
                b + self.mha_b(nb, na, training=training)]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[0]), tuple(input_shape[1])]

    def get_config(self):
        return {**super().get_config(), "n_heads": self.n_heads, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=_PKG)
class BinSlice(keras.layers.Layer):
    """Keep bins [start, stop): (batch, bins, frames, ch) -> (batch, stop-start, frames, ch)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.stop = int(stop)

    def call(self, x):
        return x[:, self.start:self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package=_PKG)
class ChannelSlice(keras.layers.Layer):
    """Keep channels [start, stop): (batch, bins, frames, c) -> (batch, bins, frames, stop-start)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.stop = int(stop)

    def call(self, x):
        return x[..., self.start:self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package=_PKG)
class PadBins(keras.layers.Layer):
    """Zero-pad the bin axis at the top: (batch, b, frames, ch) -> (batch, n_bins, frames, ch)."""

    def __init__(self, n_bins: int, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)

    def call(self, x):
        return ops.pad(x, ((0, 0), (0, self.n_bins - x.shape[1]), (0, 0), (0, 0)))

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins}


@keras.saving.register_keras_serializable(package=_PKG)
class StemSoftmaxMasks(keras.layers.Layer):
    """Softmax over stems of per-stem logits, times the mixture.

    Inputs: [logits (batch, bins, frames, n_stems * ch) with stem-major channel
    order (stem 0 ch 0, stem 0 ch 1, stem 1 ch 0, ...), mag (batch, bins,
    frames, ch)]. Output: (batch, n_stems, bins, frames, ch) float32 >= 0 whose
    sum over stems equals ``mag``.
    """

    def __init__(self, n_stems: int, **kwargs):
        super().__init__(**kwargs)
        self.n_stems = int(n_stems)

    def call(self, inputs):
        logits, mag = inputs
        bins, frames, ch = mag.shape[1], mag.shape[2], mag.shape[3]
        logits = ops.reshape(logits, (-1, bins, frames, self.n_stems, ch))
        masks = ops.softmax(logits, axis=3)
        est = masks * ops.expand_dims(ops.maximum(mag, 0.0), 3)
        return ops.transpose(est, (0, 3, 1, 2, 4))

    def compute_output_shape(self, input_shape):
        mag_shape = input_shape[1]
        return (mag_shape[0], self.n_stems, *mag_shape[1:])

    def get_config(self):
        return {**super().get_config(), "n_stems": self.n_stems}


@keras.saving.register_keras_serializable(package=_PKG)
class SigmoidMask(keras.layers.Layer):
    """``sigmoid(logits) * mag``: inputs [logits, mag] of the same shape
    (batch, bins, frames, ch); output that shape, float32 >= 0."""

    def call(self, inputs):
        logits, mag = inputs
        return ops.sigmoid(logits) * ops.maximum(mag, 0.0)


@keras.saving.register_keras_serializable(package=_PKG)
class Residual(keras.layers.Layer):
    """``relu(mag - sum(stems))``: inputs [mag, stem_1, ..., stem_k], all
    (batch, bins, frames, ch); output that shape (what the stems leave over)."""

    def call(self, inputs):
        rest = inputs[0]
        for s in inputs[1:]:
            rest = rest - s
        return ops.relu(rest)


@keras.saving.register_keras_serializable(package=_PKG)
class StackStems(keras.layers.Layer):
    """Stack k tensors (batch, bins, frames, ch) into (batch, k, bins, frames, ch)."""

    def call(self, inputs):
        return ops.stack(list(inputs), axis=1)

    def compute_output_shape(self, input_shape):
        first = input_shape[0]
        return (first[0], len(input_shape), *first[1:])
