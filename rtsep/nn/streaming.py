"""Causal layers with a streaming form: one set of weights, two ways to run them.

Every layer here is causal in time (frame ``t`` depends on frames ``<= t`` only) and
has two forms:

- the **full form** ``layer.full(x)`` over a whole sequence of ``T`` frames, as if
  the sequence were the start of a stream (training, tests);
- the **step form** ``layer.step(x_new, state, ctx) -> (y_new, new_state)`` over
  the ``K`` newest frames, with the state the previous step returned (live, offline).

``layer.initial_state(batch, ring)`` is the state before the first frame (nothing
heard yet). Stepping through a sequence ``K`` frames at a time from the initial state
gives the full form's outputs, for any ``K`` (tested to float32 rounding). A layer
without a state (per-frame work) has ``stateful = False`` and ``step`` is ``full``.

Attention sees a sliding context of ``context_frames`` frames (``W``): the query of
frame ``t`` attends to the keys of frames ``t - W + 1 .. t``. In the step form the
keys and values of past frames are a state, computed once, when their frame was
new, and kept in a *ring* of ``R`` slots (``R`` = ``W - 1 + K`` rounded up to a
multiple of ``K``): a step writes its ``K`` new rows in place over the oldest ones
(no copy of the rest), and :class:`StepContext` tells every layer which slot holds
which frame (the slots' ages) and where to write. Convolutions along time keep the
last ``kernel_frames - 1`` input columns.

Layout: frames-major, ``(batch, frames, bins, channels)`` images and
``(batch, S, frames, d)`` stem-batched tokens, as in :mod:`rtsep.nn.layers`.
Only ``keras.ops``: the same code runs on TensorFlow and JAX.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from rtsep.nn.layers import _per_stem, _stem_layer_norm, add_attention_weights

_PKG = "rtsep"
_NEG = -1e9


def band_mask(n_queries: int, n_keys: int, context: int) -> np.ndarray:
    """Which keys each query may attend to, and how far back they are.

    Query ``q`` sits at key position ``n_keys - n_queries + q`` (the queries are the
    newest frames); it sees keys ``0 <= distance < context``.

    Returns
    -------
    (allowed, distance) : np.ndarray [shape=(n_queries, n_keys)] bool and int32
        ``distance`` is clipped to ``[0, context - 1]`` (an index into a table).
    """
    q = np.arange(n_queries)[:, None] + (n_keys - n_queries)
    dist = q - np.arange(n_keys)[None, :]
    allowed = (dist >= 0) & (dist < context)
    return allowed, np.clip(dist, 0, context - 1).astype(np.int32)


class StreamLayer(keras.layers.Layer):
    """Base of the layers with a full and a step form (see the module docstring)."""

    stateful = True

    def call(self, x):
        return self.full(x)

    def full(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, x, state, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def initial_state(self, batch: int, ring: int):  # pragma: no cover - abstract
        raise NotImplementedError


@keras.saving.register_keras_serializable(package=_PKG)
class CausalLogNorm(StreamLayer):
    """Log-compress magnitudes, remove a running mean, per-bin affine map.

    ``y = log1p(mag)``; ``mu_t`` = mean of ``y`` over the bins and channels of the
    frames ``t - W + 1 .. t`` that exist (a gain change becomes a shift in the log
    domain and this removes it, causally); output ``scale[bin] * (y - mu_t) +
    bias[bin]``. The step form's state is a ring of per-frame means (batch, R).

    Input: (batch, frames, bins, channels) float32 >= 0. Output: same shape.
    """

    def __init__(self, n_bins: int, context_frames: int, **kwargs):
        super().__init__(**kwargs)
        self.n_bins = int(n_bins)
        self.context_frames = int(context_frames)

    def build(self, input_shape=None):
        self.scale = self.add_weight(name="scale", shape=(self.n_bins, 1), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(self.n_bins, 1), initializer="zeros")

    def _apply(self, y, mu):
        mu = ops.reshape(mu, (-1, ops.shape(y)[1], 1, 1))
        return y * self.scale + (self.bias - mu * self.scale)

    def full(self, mag):
        y = ops.log1p(ops.maximum(mag, 0.0))
        t = y.shape[1]
        w = self.context_frames
        m = ops.mean(y, axis=(2, 3))                                   # (B, T)
        cs = ops.cumsum(m, axis=1)
        if t > w:
            cs = cs - ops.pad(cs, ((0, 0), (w, 0)))[:, :t]
        count = np.minimum(np.arange(1, t + 1), w).astype(np.float32)
        return self._apply(y, cs / count)

    def step(self, mag, state, ctx):
        y = ops.log1p(ops.maximum(mag, 0.0))
        ring = ops.slice_update(state, (0, ctx.write), ops.mean(y, axis=(2, 3)))   # (B, R)
        seen = ops.cast(ctx.allowed, "float32")                                     # (K, R)
        mu = ops.matmul(ring, ops.transpose(seen)) / ops.sum(seen, axis=1)        # (B, K)
        return self._apply(y, mu), ring

    def initial_state(self, batch: int, ring: int):
        return np.zeros((batch, ring), np.float32)

    def get_config(self):
        return {**super().get_config(), "n_bins": self.n_bins,
                "context_frames": self.context_frames}


@keras.saving.register_keras_serializable(package=_PKG)
class FrameEmbed(StreamLayer):
    """Per-stem linear token of each frame (the seed's linear "1024x1 convolution").

    Stem ``s`` gets ``W_s x_t + b_s`` from all bins of both channels of frame ``t``;
    no position term (attention carries relative positions).

    Input: (batch, frames, bins, channels). Output: (batch, n_stems, frames, d).
    """

    stateful = False

    def __init__(self, n_stems: int, d: int, n_features: int, **kwargs):
        super().__init__(**kwargs)
        self.n_stems = int(n_stems)
        self.d = int(d)
        self.n_features = int(n_features)

    def build(self, input_shape=None):
        self.kernel = self.add_weight(name="kernel", shape=(self.n_features, self.n_stems * self.d),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.n_stems * self.d,), initializer="zeros")

    def full(self, x):
        t = x.shape[1]
        h = ops.matmul(ops.reshape(x, (-1, t, self.n_features)), self.kernel) + self.bias
        return ops.transpose(ops.reshape(h, (-1, t, self.n_stems, self.d)), (0, 2, 1, 3))

    def step(self, x, state, ctx):
        return self.full(x), state

    def get_config(self):
        return {**super().get_config(), "n_stems": self.n_stems, "d": self.d,
                "n_features": self.n_features}


@keras.saving.register_keras_serializable(package=_PKG)
class CausalStemAttention(StreamLayer):
    """Pre-norm residual attention over a sliding causal context, S stem stacks at once.

    As :class:`rtsep.nn.layers.StemAttention` (``cross=True``: the two stacks take
    keys and values from each other), plus a learned relative-position bias per
    stem, head and distance ``0 .. W - 1``, and the query of frame ``t`` sees frames
    ``t - W + 1 .. t`` only. The step form's state is the ring of projected keys and
    values of past frames: (batch, S, R, 2 d).

    Input/output: (batch, S, frames, d) float32, ``d % n_heads == 0``.
    """

    def __init__(self, n_stems: int, d: int, n_heads: int, context_frames: int,
                 cross: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.n_stems = int(n_stems)
        self.d = int(d)
        self.n_heads = int(n_heads)
        self.context_frames = int(context_frames)
        self.cross = bool(cross)
        if self.cross and self.n_stems != 2:
            raise ValueError(f"cross attention needs exactly 2 stem stacks, got {self.n_stems}")
        if self.d % self.n_heads:
            raise ValueError(f"token size {d} is not divisible by n_heads {n_heads}")

    def build(self, input_shape=None):
        s, d = self.n_stems, self.d
        add_attention_weights(self, s, d)
        self.rel_bias = self.add_weight(name="rel_bias", shape=(s, self.n_heads, self.context_frames),
                                        initializer="zeros")

    def _project(self, x):
        """Layer norm, queries of ``x``, keys/values of ``x`` (or of the other stack)."""
        h = _stem_layer_norm(x, self.gamma, self.beta)
        src = ops.flip(h, axis=1) if self.cross else h
        q = ops.einsum("bstd,sde->bste", h, self.w_q) + _per_stem(self.b_q)
        kv = ops.einsum("bstd,sde->bste", src, self.w_kv) + _per_stem(self.b_kv)
        return q, kv

    def _attend(self, x, q, kv, allowed, dist):
        """``x + W_o attention(q, kv)``; ``allowed`` (Tq, Tk) bool, ``dist`` (Tq, Tk) int32
        (the key's distance back from the query, an index into the bias table)."""
        s, tq, tk = self.n_stems, q.shape[2], kv.shape[2]
        nh, dh = self.n_heads, self.d // self.n_heads
        q = ops.reshape(q, (-1, s, tq, nh, dh))
        kv = ops.reshape(kv, (-1, s, tk, 2, nh, dh))
        k, v = kv[:, :, :, 0], kv[:, :, :, 1]
        scores = ops.einsum("bsqhe,bskhe->bshqk", q, k) * (1.0 / float(dh) ** 0.5)
        scores = scores + ops.take(self.rel_bias, dist, axis=2)        # (S, H, Tq, Tk)
        scores = ops.where(allowed, scores, _NEG)                      # (Tq, Tk) broadcast
        p = ops.softmax(scores, axis=-1)
        o = ops.reshape(ops.einsum("bshqk,bskhe->bsqhe", p, v), (-1, s, tq, self.d))
        return x + ops.einsum("bstd,sde->bste", o, self.w_o) + _per_stem(self.b_o)

    def full(self, x):
        t = x.shape[2]
        q, kv = self._project(x)
        allowed, dist = band_mask(t, t, self.context_frames)
        return self._attend(x, q, kv, allowed, dist)

    def step(self, x, state, ctx):
        q, kv_new = self._project(x)
        ring = ops.slice_update(state, (0, 0, ctx.write, 0), kv_new)   # (B, S, R, 2d)
        return self._attend(x, q, ring, ctx.allowed, ctx.dist), ring

    def initial_state(self, batch: int, ring: int):
        return np.zeros((batch, self.n_stems, ring, 2 * self.d), np.float32)

    def get_config(self):
        return {**super().get_config(), "n_stems": self.n_stems, "d": self.d,
                "n_heads": self.n_heads, "context_frames": self.context_frames,
                "cross": self.cross}


@keras.saving.register_keras_serializable(package=_PKG)
class CausalConv(StreamLayer):
    """A convolution over (frames, bins), causal in time, optionally strided in bins.

    ``kernel_frames`` taps in time (frames ``t - kernel_frames + 1 .. t``; the taps
    before the first frame see zeros) by ``kernel_bins`` along the bins ("same"
    padding as Keras pads it, stride ``bin_stride``): one native 2-D convolution
    on the input padded in time. The step form's state is the last
    ``kernel_frames - 1`` input columns.

    Input: (batch, frames, bins, c_in). Output: (batch, frames, bins / bin_stride, filters).
    """

    def __init__(self, filters: int, c_in: int, kernel_frames: int = 3, kernel_bins: int = 3,
                 bin_stride: int = 1, n_bins: int = 0, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.c_in = int(c_in)
        self.kernel_frames = int(kernel_frames)
        self.kernel_bins = int(kernel_bins)
        self.bin_stride = int(bin_stride)
        self.n_bins = int(n_bins)
        self.use_bias = bool(use_bias)
        self.history = self.kernel_frames - 1
        self.stateful = self.history > 0
        # "same" along the bins, as Keras/TensorFlow pad it (the extra one at the end)
        out_bins = -(-self.n_bins // self.bin_stride)
        total = max((out_bins - 1) * self.bin_stride + self.kernel_bins - self.n_bins, 0)
        self._bin_pad = (total // 2, total - total // 2)

    def build(self, input_shape=None):
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_frames, self.kernel_bins, self.c_in, self.filters),
            initializer="glorot_uniform")
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def _conv(self, padded):
        """``padded`` (B, history + t, F, C), already padded in time: its ``t`` outputs."""
        x = ops.pad(padded, ((0, 0), (0, 0), self._bin_pad, (0, 0)))
        y = ops.conv(x, self.kernel, strides=(1, self.bin_stride), padding="valid")
        return y + self.bias if self.use_bias else y

    def full(self, x):
        if self.history:
            x = ops.pad(x, ((0, 0), (self.history, 0), (0, 0), (0, 0)))
        return self._conv(x)

    def step(self, x, state, ctx):
        if not self.history:
            return self._conv(x), state
        k = x.shape[1]
        padded = ops.concatenate([state, x], axis=1)
        return self._conv(padded), padded[:, k:]

    def initial_state(self, batch: int, ring: int):
        return np.zeros((batch, self.history, self.n_bins, self.c_in), np.float32)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "c_in": self.c_in,
                "kernel_frames": self.kernel_frames, "kernel_bins": self.kernel_bins,
                "bin_stride": self.bin_stride, "n_bins": self.n_bins, "use_bias": self.use_bias}


EMPTY_AGE = 1e9
"""Age of a ring slot that holds no frame yet (never within any context)."""


def ring_slots(context_frames: int, k: int) -> int:
    """Slots of the step form's rings for steps of ``k`` frames: ``W - 1 + k``
    rounded up to a multiple of ``k`` (so a step's rows never wrap around)."""
    return k * -(-(context_frames - 1 + k) // k)


class StepContext:
    """What every layer of one step needs to know about the rings.

    Attributes
    ----------
    k : int
        New frames in this step.
    write : scalar int32 tensor
        First ring slot of this step's ``k`` rows.
    allowed : bool tensor [shape=(k, R)]
        Which slots each new frame's query may see (frames ``t - W + 1 .. t``).
    dist : int32 tensor [shape=(k, R)]
        How many frames back each slot is from each query (clipped to ``[0, W-1]``).
    """

    def __init__(self, ages, write, k: int, context_frames: int):
        r = ages.shape[0]
        self.k = int(k)
        slot = ops.arange(r, dtype="int32")
        mine = ops.logical_and(slot >= write, slot < write + k)
        fresh = ops.cast(write + k - 1 - slot, "float32")             # 0 for the newest
        self.ages = ops.minimum(ops.where(mine, fresh, ages + k), EMPTY_AGE)
        dist = self.ages[None, :] - np.arange(k - 1, -1, -1, dtype=np.float32)[:, None]
        self.allowed = ops.logical_and(dist >= 0.0, dist < float(context_frames))
        self.dist = ops.cast(ops.clip(dist, 0.0, float(context_frames - 1)), "int32")
        self.write = write
        self.next_write = (write + k) % r


class FullCursor:
    """The full form: ``run(layer, x)`` is ``layer.full(x)`` (see :class:`StateCursor`)."""

    @staticmethod
    def run(layer, x):
        return layer.full(x)


class RecordCursor(FullCursor):
    """The full form, recording each stateful layer's initial state in the order they run."""

    def __init__(self, batch: int, ring: int):
        self.batch = int(batch)
        self.ring = int(ring)
        self.states = []

    def run(self, layer, x):
        if layer.stateful:
            self.states.append(layer.initial_state(self.batch, self.ring))
        return layer.full(x)


class StateCursor:
    """Threads a flat tuple of states through a step, in the order layers run.

    The first two entries are the model's ring bookkeeping: the slots' ages
    (R,) float32 and the write position () int32 (see :class:`StepContext`).
    ``run(layer, x)`` runs ``layer``'s step form with the next state and collects
    its new state; ``new_states()`` is the tuple for the next step.
    """

    def __init__(self, states, k: int, context_frames: int):
        self._states = list(states)
        self.ctx = StepContext(self._states[0], self._states[1], k, context_frames)
        self._i = 2
        self._new = [self.ctx.ages, self.ctx.next_write]

    def run(self, layer, x):
        if not layer.stateful:
            return layer.full(x)
        y, s = layer.step(x, self._states[self._i], self.ctx)
        self._i += 1
        self._new.append(s)
        return y

    def new_states(self) -> tuple:
        if self._i != len(self._states):  # pragma: no cover - a broken architecture
            raise ValueError(f"the step used {self._i} of {len(self._states)} states")
        return tuple(self._new)
