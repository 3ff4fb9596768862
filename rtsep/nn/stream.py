"""The streaming architectures: ``stream_unet`` and ``stream_hybrid``.

:func:`build_stream_model` returns a functional Keras model (the fixed model
interface, what training and the artifacts handle) around one layer, the
:class:`StreamNet` (``stream_core(model)`` finds it), which has two forms (see
:mod:`rtsep.nn.streaming`):

- ``net(mag)``: the full form: magnitudes (batch, 1024, T, 2) -> estimates
  (batch, 4, 1024, T, 2) (T = 192 in the functional model), as if the T frames were
  the start of a stream;
- ``net.step(mag_new, states) -> (est_new, states)``: the K newest frames
  (batch, 1024, K, 2) -> their estimates (batch, 4, 1024, K, 2), with a flat tuple
  of state tensors; ``net.initial_state(batch, K)`` starts a stream.

The architecture is written once (``_forward``) and run by a cursor that either
computes the full form or threads the states through the step form, so the two
cannot drift apart. Graph of ``stream_hybrid`` (frames-major inside, as in
:mod:`rtsep.nn.hybrid`): causal log-normalisation; vocals and drums stacks with
cross-attention, a bass stack over the low bins (causal attention over the last
``context_frames`` frames, relative positions); a causal U-Net whose logits are
added to the transformers'; sigmoid masks; an "other" U-Net fed the input and the
three masks, plus a per-pixel linear term; estimates = masks x magnitudes.
"""

from __future__ import annotations

import keras
from keras import ops

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.nn.config import StreamHybridConfig, StreamUNetConfig
from rtsep.nn.layers import ApplyMasksFramesMajor, StemFeedForward, StemsToChannels, StemUnembed
from rtsep.nn.streaming import (EMPTY_AGE, CausalConv, CausalLogNorm, CausalStemAttention,
                                FrameEmbed, FullCursor, RecordCursor, StateCursor, StreamLayer,
                                ring_slots)

_PKG = "rtsep"
STREAM_CORE = "stream_net"
"""Name of the :class:`StreamNet` layer inside a streaming model."""


def _frames_major(mag):
    """(batch, bins, frames, ch) <-> (batch, frames, bins, ch)."""
    return ops.transpose(mag, (0, 2, 1, 3))


def _add_upsampled_bins(full, half):
    """``full + half`` repeated over bin pairs: full (B, T, F, C), half (B, T, F/2, C)."""
    t, f, c = full.shape[1], full.shape[2], full.shape[3]
    y = ops.reshape(full, (-1, t, f // 2, 2, c)) + ops.expand_dims(half, 3)
    return ops.reshape(y, (-1, t, f, c))


class CausalUNet(keras.layers.Layer):
    """A causal U-Net (:class:`rtsep.nn.config.StreamUNetConfig`) over frames-major features.

    ``forward(x, cursor)``: x (batch, T, bins, c_in) -> logits (batch, T, bins, n_out),
    or (batch, T, bins / 2, n_out) with ``output_stride`` 2.
    """

    def __init__(self, cfg, c_in: int, n_out: int, n_bins: int = MODEL_BINS, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        levels = len(cfg.filters)
        name = self.name
        self.enc, self.skips, self.dec = [], [], []
        c, f = c_in, n_bins
        for i, filters in enumerate(cfg.filters):
            conv = CausalConv(filters, c, cfg.kernel_frames, cfg.kernel_bins, bin_stride=2,
                              n_bins=f, name=f"{name}_enc{i}")
            conv.build()
            self.enc.append(conv)
            c, f = filters, f // 2
            skip = None
            if i < levels - 1 and cfg.skip_filters[i] > 0:
                skip = keras.layers.Conv2D(cfg.skip_filters[i], 1, name=f"{name}_skip{i}")
                skip.build((None, None, f, c))
            self.skips.append(skip)
        for i in range(levels - 1, 0, -1):
            up = keras.layers.Conv2DTranspose(cfg.filters[i - 1], (1, cfg.kernel_bins), strides=(1, 2),
                                              padding="same", name=f"{name}_dec{i}")
            up.build((None, None, f, c))
            self.dec.append(up)
            c, f = cfg.filters[i - 1], f * 2
            if self.skips[i - 1] is not None:
                c += cfg.skip_filters[i - 1]
        if cfg.output_stride == 2:
            self.out = keras.layers.Conv2D(n_out, 1, name=f"{name}_out")
        else:
            self.out = keras.layers.Conv2DTranspose(n_out, (1, cfg.kernel_bins), strides=(1, 2),
                                                    padding="same", name=f"{name}_out")
        self.out.build((None, None, f, c))
        self.built = True

    def forward(self, x, cursor):
        levels = len(self.enc)
        feats = []
        h = x
        for i in range(levels):
            h = ops.leaky_relu(cursor.run(self.enc[i], h), negative_slope=0.2)
            feats.append(self.skips[i](h) if self.skips[i] is not None else None)
        for j, i in enumerate(range(levels - 1, 0, -1)):
            h = ops.relu(self.dec[j](h))
            if feats[i - 1] is not None:
                h = ops.concatenate([h, feats[i - 1]], axis=-1)
        return self.out(h)


class StreamNet(keras.layers.Layer):
    """The two forms around an architecture's ``_forward(mag, cursor)``."""

    def __init__(self, net_cfg, **kwargs):
        super().__init__(**kwargs)
        self.net_cfg = net_cfg
        self._state_template = None

    def call(self, mag, training=None):
        """mag (batch, 1024, T, 2) -> estimates (batch, 4, 1024, T, 2)."""
        return self._forward(mag, FullCursor())

    def step(self, mag, states):
        """mag (batch, 1024, K, 2) and the states of ``initial_state(batch, K)`` (or of
        the previous step) -> (estimates (batch, 4, 1024, K, 2), new states)."""
        cursor = StateCursor(states, mag.shape[2], self.net_cfg_context)
        est = self._forward(mag, cursor)
        return est, cursor.new_states()

    def initial_state(self, batch: int = 1, k: int = 1) -> tuple:
        """The states before the first frame, for steps of ``k`` frames: a tuple of
        numpy arrays (ring ages, ring write position, then the layers' states)."""
        import numpy as np

        ring = ring_slots(self.net_cfg_context, k)
        rec = RecordCursor(batch, ring)
        self._forward(np.zeros((batch, MODEL_BINS, 2, N_CHANNELS), np.float32), rec)
        ages = np.full((ring,), EMPTY_AGE, np.float32)
        return (ages, np.int32(0), *rec.states)

    @property
    def net_cfg_context(self) -> int:
        return getattr(self.net_cfg, "context_frames", 2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], N_STEMS, *input_shape[1:])

    def get_config(self):
        from rtsep.nn.config import _to_plain

        return {**super().get_config(), "net": _to_plain(self.net_cfg)}

    @classmethod
    def from_config(cls, config):
        from rtsep.nn.config import _from_plain

        config = dict(config)
        net = _from_plain(cls.config_type, config.pop("net"), cls.__name__)
        return cls(net, **config)


@keras.saving.register_keras_serializable(package=_PKG)
class StreamUNet(StreamNet):
    """``stream_unet``: causal log-normalisation, a causal U-Net, a softmax over stems.

    The estimates sum to the input magnitude (the four masks sum to one).
    """

    config_type = StreamUNetConfig

    def __init__(self, net_cfg, **kwargs):
        super().__init__(net_cfg, name=kwargs.pop("name", STREAM_CORE), **kwargs)
        cfg = net_cfg
        self.norm = CausalLogNorm(MODEL_BINS, cfg.history_frames + 1, name="input_norm")
        self.norm.build()
        self.unet = CausalUNet(cfg, N_CHANNELS, N_STEMS * N_CHANNELS, name="unet")
        self.built = True

    @property
    def net_cfg_context(self) -> int:
        return self.net_cfg.history_frames + 1

    def _forward(self, mag, cursor):
        mag_t = _frames_major(mag)
        x = cursor.run(self.norm, mag_t)
        logits = self.unet.forward(x, cursor)                          # (B, T, F, S*C)
        t = logits.shape[1]
        logits = ops.reshape(logits, (-1, t, MODEL_BINS, N_STEMS, N_CHANNELS))
        masks = ops.softmax(logits, axis=3)
        est = masks * ops.expand_dims(ops.maximum(mag_t, 0.0), 3)       # (B, T, F, S, C)
        return ops.transpose(est, (0, 3, 2, 1, 4))


@keras.saving.register_keras_serializable(package=_PKG)
class StreamHybrid(StreamNet):
    """``stream_hybrid`` (see the module docstring and :class:`StreamHybridConfig`)."""

    config_type = StreamHybridConfig

    def __init__(self, net_cfg, **kwargs):
        super().__init__(net_cfg, name=kwargs.pop("name", STREAM_CORE), **kwargs)
        cfg = net_cfg
        w = cfg.context_frames
        self.norm = CausalLogNorm(MODEL_BINS, w, name="input_norm")
        self.norm.build()
        self.vd = self._stack("vd", 2, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.ffn_dim,
                              cfg.cross_layers, MODEL_BINS)
        self.bass = self._stack("bass", 1, cfg.bass_d_model, cfg.bass_n_heads, cfg.bass_n_layers,
                                cfg.bass_ffn_dim, (), cfg.bass_bins)
        self.vd_unembed = StemUnembed(MODEL_BINS, N_CHANNELS, name="vd_unembed")
        self.vd_unembed.build((None, 2, None, cfg.d_model))
        self.bass_unembed = StemUnembed(cfg.bass_bins, N_CHANNELS, total_bins=MODEL_BINS,
                                        name="bass_unembed")
        self.bass_unembed.build((None, 1, None, cfg.bass_d_model))
        self.to_channels = StemsToChannels(MODEL_BINS, N_CHANNELS, name="vdb_channels")
        self.par_unet = CausalUNet(cfg.unet, N_CHANNELS, 3 * N_CHANNELS, name="par")
        self.other_unet = CausalUNet(cfg.other_unet, 4 * N_CHANNELS, N_CHANNELS, name="other")
        self.pix = keras.layers.Conv2D(N_CHANNELS, 1, name="other_pix")
        self.pix.build((None, None, MODEL_BINS, 4 * N_CHANNELS))
        self.apply_masks = ApplyMasksFramesMajor(N_STEMS, name="stems")
        self.built = True

    def _stack(self, name, n_stems, d, n_heads, n_layers, ffn_dim, cross_layers, n_bins):
        """Embedding and ``n_layers`` x [attention, cross-attention?, feed-forward]."""
        w = self.net_cfg.context_frames
        embed = FrameEmbed(n_stems, d, n_bins * N_CHANNELS, name=f"{name}_embed")
        embed.build()
        blocks = [embed]
        for i in range(n_layers):
            attn = CausalStemAttention(n_stems, d, n_heads, w, name=f"{name}_attn{i}")
            attn.build()
            blocks.append(attn)
            if i in cross_layers:
                cross = CausalStemAttention(n_stems, d, n_heads, w, cross=True, name=f"{name}_cross{i}")
                cross.build()
                blocks.append(cross)
            ffn = StemFeedForward(ffn_dim, 0.0, name=f"{name}_ffn{i}")
            ffn.build((None, n_stems, None, d))
            blocks.append(ffn)
        return blocks

    @staticmethod
    def _run_stack(blocks, x, cursor):
        for layer in blocks:
            x = cursor.run(layer, x) if isinstance(layer, StreamLayer) else layer(x)
        return x

    def _forward(self, mag, cursor):
        cfg = self.net_cfg
        mag_t = _frames_major(mag)                                     # (B, T, F, C)
        x = cursor.run(self.norm, mag_t)
        l_vd = self.vd_unembed(self._run_stack(self.vd, x, cursor))    # (B, 2, T, F*C)
        t_b = self._run_stack(self.bass, x[:, :, :cfg.bass_bins], cursor)
        l_b = self.bass_unembed(t_b)                                   # (B, 1, T, F*C)
        l_t = self.to_channels(ops.concatenate([l_vd, l_b], axis=1))   # (B, T, F, 6)
        l_u = self.par_unet.forward(x, cursor)
        m_vdb = ops.sigmoid(self._mix(l_t, l_u))
        xm = ops.concatenate([x, m_vdb], axis=-1)                      # (B, T, F, 8)
        l_o = self.other_unet.forward(xm, cursor)
        m_o = ops.sigmoid(self._mix(self.pix(xm), l_o))
        masks = ops.concatenate([m_vdb, m_o], axis=-1)                 # (B, T, F, 8)
        return self.apply_masks([masks, mag])

    @staticmethod
    def _mix(full, maybe_half):
        if maybe_half.shape[2] == full.shape[2]:
            return full + maybe_half
        return _add_upsampled_bins(full, maybe_half)


def build_stream_model(arch: str, net_cfg) -> keras.Model:
    """The ``stream_unet`` or ``stream_hybrid`` model of ``net_cfg``.

    Returns a functional model: input ``mag`` (batch, 1024, 192, 2) float32, output
    (batch, 4, 1024, 192, 2) float32 >= 0 (the full form over the window), made of
    one :class:`StreamNet` layer.
    """
    cls = {"stream_unet": StreamUNet, "stream_hybrid": StreamHybrid}[arch]
    mag = keras.Input((MODEL_BINS, MODEL_FRAMES, N_CHANNELS), name="mag")
    return keras.Model(mag, cls(net_cfg)(mag), name=f"rtsep_{arch}")


def stream_core(model: keras.Model) -> StreamNet:
    """The :class:`StreamNet` inside a model built by :func:`build_stream_model`.

    Raises
    ------
    ValueError
        ``model`` is not a streaming model.
    """
    for layer in model.layers:
        if isinstance(layer, StreamNet):
            return layer
    raise ValueError(f"model {model.name!r} has no streaming form (not a stream_* architecture)")
