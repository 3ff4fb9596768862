"""Typed, frozen model configurations (no Keras import: cheap to load).

A :class:`ModelConfig` names an architecture (``arch``) and carries that
architecture's own typed sub-config in ``net``:

=========  ==================  ============================================
arch       ``net`` type        network
=========  ==================  ============================================
``unet``   :class:`UNetConfig`    the seed's v0.1 U-Net (thinned skips)
``hybrid`` :class:`HybridConfig`  the seed's v0.1b transformer + U-Net hybrid
``stream_unet``    :class:`StreamUNetConfig`    the U-Net, causal in time, with a step form
``stream_hybrid``  :class:`StreamHybridConfig`  the hybrid, causal in time, with a step form
=========  ==================  ============================================

The ``stream_*`` architectures see the same 192 frames of context but only the
past (see :mod:`rtsep.nn.streaming`): a live hop computes only what its new frames
change.

Configs round-trip through plain dicts / JSON (``to_dict`` / ``from_dict``);
unknown keys, missing keys of nested configs, wrong types and out-of-range values
raise :class:`rtsep.errors.ConfigError`. Fields left out of a dict take their
defaults (the ``default`` preset values), so ``{"arch": "hybrid"}`` is valid.

Presets: ``ModelConfig.preset(arch, size)`` with ``size`` ``"default"`` (the
size the real-time budget was measured for) or ``"tiny"`` (tens of thousands of
parameters, for tests).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rtsep.constants import MODEL_BINS, MODEL_FRAMES
from rtsep.errors import ConfigError

ARCHS = ("unet", "hybrid", "stream_unet", "stream_hybrid")
"""Architectures :func:`rtsep.nn.build_model` can build."""

SIZES = ("default", "tiny")
"""Preset sizes."""


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"model config: {where}: {msg}")


@dataclass(frozen=True)
class UNetConfig:
    """A U-Net over the (bins, frames, channels) magnitude image.

    The encoder has one level per entry of ``filters``: a ``kernel_size`` conv
    with stride 2 in both axes (bins and frames), so ``len(filters)`` may be at
    most 6 (192 frames = 3 * 2**6). Skip connections are *thinned*: a 1x1 conv
    reduces the output of encoder level i to ``skip_filters[i]`` channels before
    it is concatenated in the decoder (the seed's speed trick). The decoder
    mirrors the encoder with stride-2 transposed convs; the last one gives the
    output logits at full resolution.

    Attributes
    ----------
    filters : tuple of int
        Encoder channels per level, e.g. (12, 24, 48, 96, 192).
    skip_filters : tuple of int
        Channels of each thinned skip (same length as ``filters``; the last entry,
        the bottleneck, is unused). 0 disables a skip.
    kernel_size : int
        Encoder/decoder kernel (odd).
    batch_norm : bool
        Batch normalisation after every conv except the output.
    dropout : float
        Dropout rate in the two deepest decoder levels (training only).
    output_stride : int
        1: logits at full resolution (last decoder level is a stride-2 transposed
        conv); 2: the decoder stops at half resolution and the caller upsamples (the
        hybrid adds them, nearest-neighbour 2x2, to full-resolution logits: a
        transposed conv writing a full-resolution tensor costs ~2.5 ms on 2 CPU
        cores). Only the hybrids' U-Nets accept 2.
    """

    filters: tuple[int, ...] = (12, 24, 48, 96, 192)
    skip_filters: tuple[int, ...] = (4, 8, 16, 32, 0)
    kernel_size: int = 5
    batch_norm: bool = True
    dropout: float = 0.0
    output_stride: int = 1

    def validate(self, where: str = "unet") -> None:
        _check(1 <= len(self.filters) <= 6, where,
               f"filters must have 1..6 levels (192 frames = 3*2**6), got {self.filters}")
        _check(all(f >= 1 for f in self.filters), where, f"filters must be >= 1, got {self.filters}")
        _check(len(self.skip_filters) == len(self.filters), where,
               f"skip_filters {self.skip_filters} must have as many entries as filters {self.filters}")
        _check(all(s >= 0 for s in self.skip_filters), where,
               f"skip_filters must be >= 0, got {self.skip_filters}")
        _check(self.kernel_size >= 1 and self.kernel_size % 2 == 1, where,
               f"kernel_size must be odd and >= 1, got {self.kernel_size}")
        _check(0.0 <= self.dropout < 1.0, where, f"dropout must be in [0, 1), got {self.dropout}")
        _check(self.output_stride in (1, 2), where,
               f"output_stride must be 1 or 2, got {self.output_stride}")


def _check_stacks(cfg, where: str) -> None:
    """The checks :class:`HybridConfig` and :class:`StreamHybridConfig` share:
    transformer sizes, cross layers, bass bins, and both U-Nets."""
    for name in ("d_model", "n_heads", "n_layers", "ffn_dim", "bass_d_model",
                 "bass_n_heads", "bass_n_layers", "bass_ffn_dim"):
        _check(getattr(cfg, name) >= 1, where, f"{name} must be >= 1, got {getattr(cfg, name)}")
    _check(cfg.d_model % cfg.n_heads == 0, where,
           f"d_model {cfg.d_model} must be divisible by n_heads {cfg.n_heads}")
    _check(cfg.bass_d_model % cfg.bass_n_heads == 0, where,
           f"bass_d_model {cfg.bass_d_model} must be divisible by bass_n_heads {cfg.bass_n_heads}")
    _check(len(cfg.cross_layers) >= 1, where,
           "cross_layers must name at least one layer (vocals<->drums cross-attention)")
    _check(all(0 <= i < cfg.n_layers for i in cfg.cross_layers), where,
           f"cross_layers {cfg.cross_layers} must be layer indices in [0, {cfg.n_layers})")
    _check(len(set(cfg.cross_layers)) == len(cfg.cross_layers), where,
           f"cross_layers {cfg.cross_layers} has duplicates")
    _check(16 <= cfg.bass_bins <= MODEL_BINS and cfg.bass_bins % 16 == 0, where,
           f"bass_bins must be a multiple of 16 in [16, {MODEL_BINS}], got {cfg.bass_bins}")
    cfg.unet.validate(f"{where}.unet")
    cfg.other_unet.validate(f"{where}.other_unet")


@dataclass(frozen=True)
class TransformerStacks:
    """The transformer stacks the hybrid and the streaming hybrid share.

    Attributes
    ----------
    d_model : int
        Token size of the vocals and drums stacks (the seed suggests 384; the default
        192 keeps a batch-1 window call near 20-30 ms on 2 CPU cores).
    n_heads : int
        Attention heads of the vocals/drums stacks.
    n_layers : int
        Transformer layers per vocals/drums stack.
    ffn_dim : int
        Hidden size of the feed-forward block (vocals/drums).
    cross_layers : tuple of int
        Indices (0-based) of the vocals/drums layers followed by a cross-attention
        block (vocals attend to drums and drums to vocals); at least one.
    bass_bins : int
        The bass stack and the bass mask cover bins [0, bass_bins) only (128 bins =
        0..1.4 kHz); the bass estimate is zero above.
    bass_d_model, bass_n_heads, bass_n_layers, bass_ffn_dim : int
        The bass stack.
    """

    d_model: int = 192
    n_heads: int = 4
    n_layers: int = 2
    ffn_dim: int = 384
    cross_layers: tuple[int, ...] = (1,)
    bass_bins: int = 128
    bass_d_model: int = 96
    bass_n_heads: int = 4
    bass_n_layers: int = 1
    bass_ffn_dim: int = 192


@dataclass(frozen=True)
class HybridConfig(TransformerStacks):
    """The seed's v0.1b hybrid: per-stem transformers + small parallel U-Nets.

    Channels: the two stereo channels are *not* folded into the batch; each
    frame's token is made from both channels' ``MODEL_BINS`` bins at once (a
    linear 1024x1 conv over 2 input channels = a dense map of 2048 values to
    ``d_model``), and the output projection returns 2 x bins logits. This halves
    the transformer cost against folding, and lets attention see stereo cues.

    Attributes
    ----------
    d_model, n_heads, n_layers, ffn_dim, cross_layers, bass_bins, bass_d_model, bass_n_heads, bass_n_layers, bass_ffn_dim
        The stacks (:class:`TransformerStacks`).
    unet : UNetConfig
        The small U-Net parallel to the transformers (one shared trunk with vocals,
        drums and bass output logits, added to the transformer logits).
    other_unet : UNetConfig
        The U-Net that predicts "other" from the input and the three separated stems
        (their masks), plus a per-pixel linear term.
    dropout : float
        Dropout in attention and feed-forward blocks (training only).
    """

    unet: UNetConfig = field(default_factory=lambda: UNetConfig(
        filters=(8, 16, 32), skip_filters=(4, 8, 0), kernel_size=3, batch_norm=False,
        output_stride=2))
    other_unet: UNetConfig = field(default_factory=lambda: UNetConfig(
        filters=(8, 16, 32), skip_filters=(4, 8, 0), kernel_size=3, batch_norm=False,
        output_stride=2))
    dropout: float = 0.0

    def validate(self, where: str = "hybrid") -> None:
        _check_stacks(self, where)
        _check(0.0 <= self.dropout < 1.0, where, f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class StreamUNetConfig:
    """A U-Net causal in time: strided along the bins only, so a frame is a column.

    Encoder level i: a :class:`rtsep.nn.streaming.CausalConv` with ``filters[i]``
    channels, ``kernel_frames`` taps in time (this frame and the ones before it),
    ``kernel_bins`` along the bins with stride 2 (leaky ReLU). Thinned skips (1x1
    convs to ``skip_filters[i]`` channels) as in :class:`UNetConfig`. Decoder:
    per-frame stride-2 transposed convs along the bins (ReLU). The receptive field
    in time is ``(kernel_frames - 1) * len(filters)`` frames of the past.

    Attributes
    ----------
    filters : tuple of int
        Encoder channels per level (1..5 levels: 1024 bins / 2**5 = 32).
    skip_filters : tuple of int
        Thinned skip channels per level (the last, the bottleneck, unused); 0: none.
    kernel_frames, kernel_bins : int
        Taps in time (>= 1) and kernel along the bins (odd).
    output_stride : int
        1: logits at full resolution; 2: at half the bins (the hybrid adds them to
        both bins of the pair).
    """

    filters: tuple[int, ...] = (8, 16, 32)
    skip_filters: tuple[int, ...] = (4, 8, 0)
    kernel_frames: int = 3
    kernel_bins: int = 3
    output_stride: int = 1

    def validate(self, where: str = "stream_unet") -> None:
        _check(1 <= len(self.filters) <= 5, where, f"filters must have 1..5 levels, got {self.filters}")
        _check(all(f >= 1 for f in self.filters), where, f"filters must be >= 1, got {self.filters}")
        _check(len(self.skip_filters) == len(self.filters), where,
               f"skip_filters {self.skip_filters} must have as many entries as filters {self.filters}")
        _check(all(s >= 0 for s in self.skip_filters), where,
               f"skip_filters must be >= 0, got {self.skip_filters}")
        _check(self.kernel_frames >= 1, where, f"kernel_frames must be >= 1, got {self.kernel_frames}")
        _check(self.kernel_bins >= 1 and self.kernel_bins % 2 == 1, where,
               f"kernel_bins must be odd and >= 1, got {self.kernel_bins}")
        _check(self.output_stride in (1, 2), where,
               f"output_stride must be 1 or 2, got {self.output_stride}")

    @property
    def history_frames(self) -> int:
        """Frames of the past the U-Net's output depends on (besides the current one)."""
        return (self.kernel_frames - 1) * len(self.filters)


@dataclass(frozen=True)
class StreamHybridConfig(TransformerStacks):
    """The hybrid (see :class:`HybridConfig`), causal in time, with a step form.

    The same stacks, tokens and U-Nets as the hybrid, with three changes that make
    a hop's cost proportional to the frames it emits: attention sees the last
    ``context_frames`` frames (the newest included) through a learned
    relative-position bias instead of absolute position embeddings; the input
    normalisation removes a running mean over the same context; the U-Nets are
    :class:`StreamUNetConfig` (causal in time, strided along the bins only).

    Attributes
    ----------
    context_frames : int
        Frames each attention query sees (the model window: 192 = 4.46 s).
    d_model, n_heads, n_layers, ffn_dim, cross_layers, bass_bins, bass_d_model, bass_n_heads, bass_n_layers, bass_ffn_dim
        The stacks (:class:`TransformerStacks`).
    unet, other_unet : StreamUNetConfig
        The U-Net parallel to the transformers and the "other" U-Net.
    """

    context_frames: int = MODEL_FRAMES
    unet: StreamUNetConfig = field(default_factory=lambda: StreamUNetConfig(output_stride=2))
    other_unet: StreamUNetConfig = field(default_factory=lambda: StreamUNetConfig(output_stride=2))

    def validate(self, where: str = "stream_hybrid") -> None:
        _check(2 <= self.context_frames <= 4 * MODEL_FRAMES, where,
               f"context_frames must be in [2, {4 * MODEL_FRAMES}], got {self.context_frames}")
        _check_stacks(self, where)


_NET_TYPES: dict[str, type] = {"unet": UNetConfig, "hybrid": HybridConfig,
                               "stream_unet": StreamUNetConfig, "stream_hybrid": StreamHybridConfig}

_PRESETS: dict[tuple[str, str], Any] = {
    ("unet", "default"): lambda: UNetConfig(),
    ("unet", "tiny"): lambda: UNetConfig(filters=(4, 8), skip_filters=(2, 0), kernel_size=3),
    ("hybrid", "default"): lambda: HybridConfig(),
    ("hybrid", "tiny"): lambda: HybridConfig(
        d_model=8, n_heads=2, n_layers=1, ffn_dim=16, cross_layers=(0,),
        bass_bins=32, bass_d_model=8, bass_n_heads=2, bass_n_layers=1, bass_ffn_dim=8,
        unet=UNetConfig(filters=(4, 8), skip_filters=(2, 0), kernel_size=3, batch_norm=True,
                        output_stride=2),
        other_unet=UNetConfig(filters=(4,), skip_filters=(0,), kernel_size=3, batch_norm=False)),
    ("stream_unet", "default"): lambda: StreamUNetConfig(
        filters=(12, 24, 48, 96), skip_filters=(4, 8, 16, 0)),
    ("stream_unet", "tiny"): lambda: StreamUNetConfig(
        filters=(4, 8), skip_filters=(2, 0)),
    ("stream_hybrid", "default"): lambda: StreamHybridConfig(),
    ("stream_hybrid", "tiny"): lambda: StreamHybridConfig(
        context_frames=16, d_model=8, n_heads=2, n_layers=1, ffn_dim=16, cross_layers=(0,),
        bass_bins=32, bass_d_model=8, bass_n_heads=2, bass_n_layers=1, bass_ffn_dim=8,
        unet=StreamUNetConfig(filters=(4, 8), skip_filters=(2, 0), output_stride=2),
        other_unet=StreamUNetConfig(filters=(4,), skip_filters=(0,), output_stride=2)),
}


@dataclass(frozen=True)
class ModelConfig:
    """Which architecture, and its typed sub-config.

    Attributes
    ----------
    arch : str
        One of :data:`ARCHS`.
    net : UNetConfig, HybridConfig, StreamUNetConfig or StreamHybridConfig
        The sub-config, of the type the arch needs (``_NET_TYPES``).
    """

    arch: str
    net: Any = None

    input_shape: ClassVar[tuple[int, int, int]] = (MODEL_BINS, MODEL_FRAMES, 2)
    """(bins, frames, channels) every architecture takes."""

    def __post_init__(self) -> None:
        _check(self.arch in ARCHS, "arch", f"unknown architecture {self.arch!r}; choose one of {ARCHS}")
        want = _NET_TYPES[self.arch]
        if self.net is None:
            object.__setattr__(self, "net", want())
        _check(isinstance(self.net, want), "net",
               f"arch {self.arch!r} needs a {want.__name__}, got {type(self.net).__name__}")
        self.net.validate(self.arch)

    @classmethod
    def preset(cls, arch: str, size: str = "default") -> "ModelConfig":
        """The named preset: ``arch`` in :data:`ARCHS`, ``size`` in :data:`SIZES`."""
        _check(arch in ARCHS, "arch", f"unknown architecture {arch!r}; choose one of {ARCHS}")
        _check(size in SIZES, "size", f"unknown preset size {size!r}; choose one of {SIZES}")
        return cls(arch=arch, net=_PRESETS[(arch, size)]())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: ``{"arch": ..., "net": {...}}`` (tuples as lists)."""
        return {"arch": self.arch, "net": _to_plain(self.net)}

    @classmethod
    def from_dict(cls, d: Any) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys or bad values: ConfigError."""
        _check(isinstance(d, dict), "top level", f"expected a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {"arch", "net"})
        _check(not unknown, "top level", f"unknown key(s) {unknown}; allowed: ['arch', 'net']")
        _check("arch" in d, "top level", "missing key 'arch'")
        arch = d["arch"]
        _check(isinstance(arch, str) and arch in ARCHS, "arch",
               f"unknown architecture {arch!r}; choose one of {ARCHS}")
        net = _from_plain(_NET_TYPES[arch], d.get("net", {}), arch)
        return cls(arch=arch, net=net)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "ModelConfig":
        """Read a JSON file holding :meth:`to_dict`'s output (or a dict with a
        ``"model"`` entry holding it, as an artifact's ``config.json`` does)."""
        from rtsep.io.jsonio import read_json

        d = read_json(path, "model config file")
        if isinstance(d, dict) and "model" in d and "arch" not in d:
            d = d["model"]
        return cls.from_dict(d)

    def replace(self, **net_changes: Any) -> "ModelConfig":
        """A copy with fields of ``net`` changed (validated), e.g. ``cfg.replace(n_layers=3)``."""
        fields = {f.name for f in dataclasses.fields(self.net)}
        unknown = sorted(set(net_changes) - fields)
        _check(not unknown, self.arch, f"unknown field(s) {unknown}; allowed: {sorted(fields)}")
        return ModelConfig(arch=self.arch, net=dataclasses.replace(self.net, **net_changes))


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _from_plain(cls: type, d: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a dict, checking keys and types."""
    _check(isinstance(d, dict), where, f"expected a JSON object, got {type(d).__name__}: {d!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    _check(not unknown, where, f"unknown key(s) {unknown}; allowed: {names}")
    kwargs = {}
    for name in names:
        if name in d:
            kwargs[name] = _coerce(hints[name], d[name], f"{where}.{name}")
    return cls(**kwargs)


def _coerce(tp: Any, v: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _from_plain(tp, v, where)
    origin = typing.get_origin(tp)
    if origin is tuple:
        (elem, _ellipsis) = typing.get_args(tp)
        _check(isinstance(v, (list, tuple)), where, f"expected a list, got {v!r}")
        return tuple(_coerce(elem, x, f"{where}[{i}]") for i, x in enumerate(v))
    if tp is bool:
        _check(isinstance(v, bool), where, f"expected true/false, got {v!r}")
        return v
    if tp is int:
        _check(isinstance(v, int) and not isinstance(v, bool), where, f"expected an integer, got {v!r}")
        return v
    if tp is float:
        _check(isinstance(v, (int, float)) and not isinstance(v, bool), where,
               f"expected a number, got {v!r}")
        return float(v)
    if tp is str:
        _check(isinstance(v, str), where, f"expected a string, got {v!r}")
        return v
    raise ConfigError(f"model config: {where}: unsupported field type {tp!r}")  # pragma: no cover
