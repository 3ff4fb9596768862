"""The training run's configuration: :class:`TrainConfig`, saved beside the weights."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtsep.errors import ConfigError
from rtsep.io.jsonio import check_fields
from rtsep.training.data import AugmentConfig
from rtsep.training.losses import LOSSES

STRATEGIES = ("none", "mirrored", "multiworker")
TRAIN_CONFIG_FILE = "train_config.json"

RESUME_MAY_CHANGE = frozenset({
    "steps", "val_every", "checkpoint_every", "keep_checkpoints", "log_every", "workers",
    "strategy", "val_excerpts", "val_seconds", "command", "val_leakage", "val_leakage_excerpts"})
"""TrainConfig fields that may differ when resuming (they do not change what the
steps already taken meant). ``steps`` changes the cosine schedule's end."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``OUT/train_config.json``).

    Attributes
    ----------
    data : str
        Dataset folder (MUSDB18-HQ layout).
    out : str
        Artifact folder to write (checkpoints and logs go inside).
    arch : str
        ``"unet"`` or ``"hybrid"`` (ignored when ``model_config`` is given, except that it
        must then match the file's arch).
    size : str
        Preset size, ``"default"`` or ``"tiny"``.
    model_config : str | None
        Optional path of a model config JSON (:meth:`rtsep.nn.ModelConfig.from_json_file`),
        used instead of the preset.
    steps : int
        Total optimiser steps.
    batch_size : int
        Global batch (examples per step).
    lr : float
        Peak learning rate (after warm-up).
    warmup_steps : int
        Linear warm-up steps (0: none; capped at steps // 2).
    min_lr_ratio : float
        The cosine decay ends at ``lr * min_lr_ratio``.
    clip_norm : float
        Gradient global-norm clip (0: none).
    loss : str
        One of :data:`LOSSES`.
    seed : int
        Seeds model initialisation, the data stream and the validation split.
    val_fraction : float
        Share of tracks held out for validation (by track).
    val_every : int
        Steps between validations (0: only at the end).
    val_excerpts : int
        Fixed validation excerpts (spread over the validation tracks).
    val_seconds : float
        Length of each validation excerpt (and of each leakage excerpt).
    val_leakage : str | None
        Optional folder of tracks whose music without vocals (an accompaniment track's
        accompaniment, a full track's drums + bass + other) measures vocal leakage at
        every validation (:func:`rtsep.training.validation.validate_leakage`; logged,
        not used to choose the artifact).
    val_leakage_excerpts : int
        Fixed excerpts of ``val_leakage`` (spread over its tracks).
    checkpoint_every : int
        Steps between checkpoints (and at the end, and on Ctrl-C).
    keep_checkpoints : int
        How many checkpoints to keep.
    log_every : int
        Steps between TensorBoard training summaries.
    augment : AugmentConfig
        Augmentation of training examples.
    workers : int
        Parallel example makers in the input pipeline.
    strategy : str
        One of :data:`STRATEGIES`.
    command : str
        The command line that started the run (for the model card).
    init_from : str | None
        Optional model artifact (a name under ``models/`` or a folder) whose weights start
        the run instead of a random initialisation: all of them when its architecture
        config equals this run's (fine-tuning), else those with the same layer path and
        shape (a warm start, e.g. a ``stream_hybrid`` from a ``hybrid``). Ignored when
        resuming from a checkpoint (the checkpoint's weights win).
    partial_fraction : float | None
        Share of examples drawn from accompaniment tracks (vocals and accompaniment
        only, :mod:`rtsep.training.data`); None: each track in turn, whatever its kind.
    """

    data: str
    out: str
    arch: str = "unet"
    size: str = "default"
    model_config: str | None = None
    steps: int = 10_000
    batch_size: int = 4
    lr: float = 1e-3
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    clip_norm: float = 5.0
    loss: str = "l1"
    seed: int = 0
    val_fraction: float = 0.1
    val_every: int = 1000
    val_excerpts: int = 4
    val_seconds: float = 10.0
    val_leakage: str | None = None
    val_leakage_excerpts: int = 8
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 10
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = 2
    strategy: str = "none"
    command: str = ""
    init_from: str | None = None
    partial_fraction: float | None = None

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"train config: {msg}")

        need(isinstance(self.data, str) and self.data != "", f"data must be a folder path, got {self.data!r}")
        need(isinstance(self.out, str) and self.out != "", f"out must be a folder path, got {self.out!r}")
        from rtsep.nn.config import ARCHS, SIZES
        need(self.arch in ARCHS, f"arch must be one of {ARCHS}, got {self.arch!r}")
        need(self.size in SIZES, f"size must be one of {SIZES}, got {self.size!r}")
        for name in ("steps", "batch_size", "keep_checkpoints", "log_every", "workers"):
            need(_is_int(getattr(self, name)) and getattr(self, name) >= 1,
                 f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "val_every", "val_excerpts", "checkpoint_every", "seed",
                     "val_leakage_excerpts"):
            need(_is_int(getattr(self, name)) and getattr(self, name) >= 0,
                 f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        need(_is_num(self.lr) and 0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr!r}")
        need(_is_num(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1,
             f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        need(_is_num(self.clip_norm) and self.clip_norm >= 0, f"clip_norm must be >= 0, got {self.clip_norm!r}")
        need(_is_num(self.val_fraction) and 0 <= self.val_fraction < 1,
             f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        need(_is_num(self.val_seconds) and self.val_seconds > 0,
             f"val_seconds must be > 0, got {self.val_seconds!r}")
        need(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        need(self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        need(isinstance(self.augment, AugmentConfig), f"augment must be an AugmentConfig, got {self.augment!r}")
        need(self.model_config is None or isinstance(self.model_config, str),
             f"model_config must be a file path or None, got {self.model_config!r}")
        need(self.val_leakage is None or (isinstance(self.val_leakage, str) and self.val_leakage != ""),
             f"val_leakage must be a folder path or None, got {self.val_leakage!r}")
        need(self.init_from is None or (isinstance(self.init_from, str) and self.init_from != ""),
             f"init_from must be a model name or folder, or None, got {self.init_from!r}")
        need(self.partial_fraction is None or (_is_num(self.partial_fraction)
                                               and 0 <= self.partial_fraction <= 1),
             f"partial_fraction must be in [0, 1] or None, got {self.partial_fraction!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``augment`` as a nested dict)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["augment"] = self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys or bad values raise ConfigError."""
        check_fields(d, cls, "train config")
        for req in ("data", "out"):
            if req not in d:
                raise ConfigError(f"train config: missing key {req!r}")
        kw = dict(d)
        if "augment" in kw:
            kw["augment"] = AugmentConfig.from_dict(kw["augment"])
        return cls(**kw)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "TrainConfig":
        from rtsep.io.jsonio import read_json

        d = read_json(path, "train config file")
        return cls.from_dict(d)

    def model_config_obj(self):
        """The :class:`rtsep.nn.ModelConfig` this run trains."""
        from rtsep.nn.config import ModelConfig

        if self.model_config is None:
            return ModelConfig.preset(self.arch, self.size)
        mc = ModelConfig.from_json_file(self.model_config)
        if mc.arch != self.arch:
            raise ConfigError(f"model config file {self.model_config!r} is for arch {mc.arch!r} "
                              f"but arch {self.arch!r} was asked for; pass --arch {mc.arch}")
        return mc


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_resume_compatible(saved: TrainConfig, cfg: TrainConfig) -> None:
    """Raise ConfigError when ``cfg`` changes a setting the run in ``cfg.out`` started with
    (other than :data:`RESUME_MAY_CHANGE`)."""
    a, b = saved.to_dict(), cfg.to_dict()
    diff = sorted(k for k in a if k not in RESUME_MAY_CHANGE and a[k] != b[k])
    if diff:
        detail = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in diff)
        raise ConfigError(f"cannot resume: the run in {cfg.out} was started with other settings ({detail}); "
                          f"resume with the same options, or train into another --out")
