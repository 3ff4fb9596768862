"""Training: a custom TensorFlow loop around an rtsep network.

``train(TrainConfig(data="data/songs", out="models/mine", arch="unet"))`` trains a
model on a MUSDB18-HQ-style folder and returns the artifact folder ``out``.

What ``out`` holds
------------------
- the artifact (``config.json``, ``model.weights.h5``, ``MODEL_CARD.md``), written
  by :func:`rtsep.runtime.artifact.save_artifact`: at every validation that beats the best
  validation SDR so far (mean of the four stems), and at the end when there is no
  validation split (then it is the final model);
- ``train_config.json``: the :class:`TrainConfig` (beside the artifact; also stored
  under ``"training"`` in ``config.json``);
- ``checkpoints/step-NNNNNNNN/``: ``model.weights.h5`` (all model variables,
  batch-norm statistics and dropout seed state included), ``optimizer.npz`` (every
  Adam variable, its iteration counter included), ``state.json`` (step, the data
  stream's position and seed, best validation so far, validation history). The
  last ``keep_checkpoints`` are kept; each is written to a temporary folder and
  renamed, so a crash never leaves a half checkpoint;
- ``logs/``: TensorBoard summaries (``train/loss``, ``train/lr``,
  ``train/examples_per_s``, ``val/sdr_<stem>``, ``val/sdr_mean``).

Determinism and resuming
------------------------
Example ``i`` of the data stream depends only on the seed and ``i``
(:class:`rtsep.training.data.ExampleSampler`), and step ``s`` consumes examples
``s*B .. s*B + B - 1``. A checkpoint therefore only needs the step to restore the
data stream; the optimizer's state (moments, iteration count, hence the learning
rate) and the model's variables come from the checkpoint files. A run interrupted
(Ctrl-C or SIGTERM: a checkpoint is saved before exiting) and resumed with
``resume=True`` continues at the same step with the same examples, and ends with
the weights an uninterrupted run gets, to float32 reduction-order noise
(tested).

Loss
----
Plain L1 between estimated and true stem magnitudes, averaged over stems, bins,
frames and channels (``"l1"``, the default and the baseline of the design). Option
``"l1_log"`` applies L1 to ``log1p(magnitude)``, which weighs quiet bins more. A
measurement supports plain L1 over ``l1_log``: the default U-Net, 250 steps of
batch 4 on 8 synthetic 30 s songs (``rtsep synth --tracks 10 --seed 1``, 2 held
out), validation SDR mean over stems 0.95 dB with ``l1`` against -0.43 dB with
``l1_log`` (vocals 2.72 / 2.69, drums 1.91 / 1.64, bass 0.95 / 0.29, other -1.76 /
-6.33 dB).

Option ``"psa"`` scores what the engine outputs instead of the raw estimates: the
four estimates become ratio masks ``m_j = e_j / sum_k e_k`` (as in the engine, mask
power 1), and the loss is L1 between ``m_j |X|`` and the phase-sensitive targets
``Re(S_j conj(X)) / |X|`` (:mod:`rtsep.training.data`), the part of the stem's complex STFT
error that a real mask on the mixture can reduce. Its examples carry those targets
(``TARGET_OF_LOSS``).

Optimiser: Adam with a linear warm-up over ``warmup_steps`` and a cosine decay to
``lr * min_lr_ratio`` at ``steps``; the gradient's global norm is clipped at
``clip_norm`` (0: no clipping).

Distribution: ``strategy`` ``"none"`` (default device), ``"mirrored"``
(``tf.distribute.MirroredStrategy``: all local GPUs, or the CPU) or
``"multiworker"`` (``tf.distribute.MultiWorkerMirroredStrategy``, cluster from
``TF_CONFIG``; only the chief writes files). ``batch_size`` is the global batch,
split over replicas; every replica's input pipeline makes only its own examples.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import shutil
import signal
import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rtsep.constants import STEMS
from rtsep.training.data import (
    AugmentConfig,
    ExampleSampler,
    dataset_hours,
    find_tracks,
    make_dataset,
    split_tracks,
    validation_excerpts,
)
from rtsep.errors import ConfigError, RtsepError
from rtsep.io.jsonio import check_fields

LOSSES = ("l1", "l1_log", "psa")
TARGET_OF_LOSS = {"l1": "magnitude", "l1_log": "magnitude", "psa": "phase_sensitive"}
"""The :data:`rtsep.training.data.TARGETS` each loss compares the model's output with."""
STRATEGIES = ("none", "mirrored", "multiworker")
CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"
TRAIN_CONFIG_FILE = "train_config.json"
_CKPT_PREFIX = "step-"

_RESUME_MAY_CHANGE = frozenset({
    "steps", "val_every", "checkpoint_every", "keep_checkpoints", "log_every", "workers",
    "strategy", "val_excerpts", "val_seconds", "command"})
"""TrainConfig fields that may differ when resuming (they do not change what the
steps already taken meant). ``steps`` changes the cosine schedule's end."""


# ----------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``OUT/train_config.json``).

    Attributes:
        data: dataset folder (MUSDB18-HQ layout).
        out: artifact folder to write (checkpoints and logs go inside).
        arch: ``"unet"`` or ``"hybrid"`` (ignored when ``model_config`` is given,
            except that it must then match the file's arch).
        size: preset size, ``"default"`` or ``"tiny"``.
        model_config: optional path of a model config JSON
            (:meth:`rtsep.nn.ModelConfig.from_json_file`), used instead of the preset.
        steps: total optimiser steps.
        batch_size: global batch (examples per step).
        lr: peak learning rate (after warm-up).
        warmup_steps: linear warm-up steps (0: none; capped at steps // 2).
        min_lr_ratio: the cosine decay ends at ``lr * min_lr_ratio``.
        clip_norm: gradient global-norm clip (0: none).
        loss: one of :data:`LOSSES`.
        seed: seeds model initialisation, the data stream and the validation split.
        val_fraction: share of tracks held out for validation (by track).
        val_every: steps between validations (0: only at the end).
        val_excerpts: fixed validation excerpts (spread over the validation tracks).
        val_seconds: length of each validation excerpt.
        checkpoint_every: steps between checkpoints (and at the end, and on Ctrl-C).
        keep_checkpoints: how many checkpoints to keep.
        log_every: steps between TensorBoard training summaries.
        augment: augmentation of training examples.
        workers: parallel example makers in the input pipeline.
        strategy: one of :data:`STRATEGIES`.
        command: the command line that started the run (for the model card).
        init_from: optional model artifact (a name under ``models/`` or a folder) whose
            weights start the run instead of a random initialisation (fine-tuning); its
            architecture config must equal this run's. Ignored when resuming from a
            checkpoint (the checkpoint's weights win).
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
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 10
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = 2
    strategy: str = "none"
    command: str = ""
    init_from: str | None = None

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
        for name in ("warmup_steps", "val_every", "val_excerpts", "checkpoint_every", "seed"):
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
        need(self.init_from is None or (isinstance(self.init_from, str) and self.init_from != ""),
             f"init_from must be a model name or folder, or None, got {self.init_from!r}")

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


# ----------------------------------------------------------------------------------
# Checkpoints (plain files: Keras weights, numpy optimizer state, JSON state)
# ----------------------------------------------------------------------------------

def list_checkpoints(out: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``out/checkpoints``, oldest first, as (step, folder)."""
    root = Path(out) / CHECKPOINTS_DIR
    found = []
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.startswith(_CKPT_PREFIX) and (p / "state.json").is_file():
                try:
                    found.append((int(p.name[len(_CKPT_PREFIX):]), p))
                except ValueError:
                    continue
    return sorted(found)


def _save_checkpoint(out: Path, model, optimizer, state: dict, keep: int) -> Path:
    root = out / CHECKPOINTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_CKPT_PREFIX}{state['step']:08d}"
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with warnings.catch_warnings():  # Keras 3.15 + numpy 2.4 warn once per variable
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy",
                                    category=DeprecationWarning)
            model.save_weights(str(tmp / "model.weights.h5"))
        opt_vars = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
        opt_vars["paths"] = np.array([v.path for v in optimizer.variables])
        np.savez(tmp / "optimizer.npz", **opt_vars)
        (tmp / "state.json").write_text(json.dumps(state, indent=2, allow_nan=True) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for _, old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _load_checkpoint(folder: Path, model, optimizer) -> dict:
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        model.load_weights(str(folder / "model.weights.h5"))
        with np.load(folder / "optimizer.npz") as z:
            # compare without the optimizer's own name ("adam", "adam_1", ... per instance)
            paths = [str(p).split("/", 1)[-1] for p in z["paths"]]
            want = [v.path.split("/", 1)[-1] for v in optimizer.variables]
            if paths != want:
                raise ConfigError(f"checkpoint {folder}: its {len(paths)} optimizer variables do not "
                                  f"match the model's {len(want)}; it belongs to another model config")
            shapes = [z[f"v{i:04d}"].shape for i in range(len(paths))]
            if shapes != [tuple(v.shape) for v in optimizer.variables]:
                raise ConfigError(f"checkpoint {folder}: optimizer variable shapes do not match the "
                                  f"model; it belongs to another model config")
            for i, v in enumerate(optimizer.variables):
                v.assign(z[f"v{i:04d}"])
    except RtsepError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable checkpoint
        raise ConfigError(f"cannot resume from checkpoint {folder}: {type(exc).__name__}: {exc}; "
                          f"delete it to fall back to the previous one") from None
    return state


# ----------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------

def _make_strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                            and "chief" not in resolver.cluster_spec().as_dict())


_RATIO_EPS = 1e-8
"""Added to the sum of the estimates before dividing (the estimates are mask x |X|,
so where it matters |X| is tiny and so is the output)."""


def _per_example_loss(kind: str):
    """``loss(est, y, x) -> (B,)``: est, y (B, 4, 1024, 192, 2), x (B, 1024, 192, 2)."""
    import tensorflow as tf

    def loss(est, y, x):
        if kind == "l1_log":
            est, y = tf.math.log1p(tf.nn.relu(est)), tf.math.log1p(y)
        elif kind == "psa":
            est = tf.nn.relu(est)
            est = est / (tf.reduce_sum(est, axis=1, keepdims=True) + _RATIO_EPS) * x[:, None]
        return tf.reduce_mean(tf.abs(est - y), axis=[1, 2, 3, 4])

    return loss


def _learning_rate(cfg: TrainConfig):
    import keras

    warm = min(cfg.warmup_steps, cfg.steps // 2)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr if warm == 0 else cfg.lr * 1e-3,
        decay_steps=max(1, cfg.steps - warm), alpha=cfg.min_lr_ratio,
        warmup_target=None if warm == 0 else cfg.lr, warmup_steps=warm)


def _scalar(tag: str, value: float, step: int) -> None:
    """``tf.summary.scalar`` without needing the tensorboard package to write.

    Writes the same event (scalars plugin metadata, a float32 scalar tensor) to the
    default summary writer, so TensorBoard shows it as a scalar curve.
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars", content=b""),
        data_class=summary_pb2.DATA_CLASS_SCALAR)
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step), metadata=meta)


def validate(runtime, excerpts, *, batch_size: int = 4) -> dict[str, float]:
    """Validation SDR of a model on fixed excerpts.

    Each excerpt's mixture (sum of its stems) is separated offline with
    :func:`rtsep.engine.offline.separate_array` and scored with
    :func:`rtsep.evaluate.sdr_museval`.

    Returns
    -------
    dict
        ``{stem: median over excerpts of the median framewise SDR, "mean": mean of
        the four}`` (NaN where a stem is silent in every excerpt).
    """
    from rtsep.evaluate import sdr_museval, summarize
    from rtsep.engine.offline import separate_array

    per = {}
    for k, ex in enumerate(excerpts):
        est = separate_array(runtime, ex.mixture, batch_size=batch_size)
        per[f"{k}:{ex.track}"] = sdr_museval(ex.stems, est[:len(STEMS)])
    return summarize(per)


def _mean_sdr(sdr: dict | None) -> float:
    if not sdr:
        return float("nan")
    vals = [sdr[s] for s in STEMS if sdr.get(s) is not None and math.isfinite(sdr[s])]
    return float(np.mean(vals)) if vals else float("nan")


def _publish_artifact(out: Path, model, mconfig, card: dict, training: dict) -> None:
    """Write the artifact files into ``out`` (which also holds checkpoints and logs).

    :func:`rtsep.runtime.artifact.save_artifact` replaces its whole target folder, so the
    artifact is staged in a hidden sub-folder and its files are moved up one by one
    (weights first, config.json last: a reader in between sees a weights/config
    checksum mismatch, a clear ModelError, never silently wrong weights).
    """
    from rtsep.runtime.artifact import CONFIG_FILE, save_artifact

    staging = out / ".artifact-staging"
    shutil.rmtree(staging, ignore_errors=True)
    stage = save_artifact(staging / out.resolve().name, model, mconfig, card=card, training=training)
    files = sorted(p for p in stage.iterdir() if p.is_file())
    for p in sorted(files, key=lambda p: p.name == CONFIG_FILE):
        os.replace(p, out / p.name)
    shutil.rmtree(staging, ignore_errors=True)


class _Interrupt:
    """Turn SIGTERM into KeyboardInterrupt while training (main thread only)."""

    def __enter__(self):
        self._old = None
        if sys.platform != "win32":
            try:
                self._old = signal.signal(signal.SIGTERM, self._raise)
            except ValueError:  # not the main thread
                self._old = None
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


@dataclass
class _RunState:
    step: int = 0
    best_sdr: dict | None = None
    best_step: int = -1
    last_sdr: dict | None = None
    last_val_step: int = -1
    history: list = field(default_factory=list)

    def to_json(self, cfg: TrainConfig, batch_size: int) -> dict:
        return {"step": self.step, "examples_seen": self.step * batch_size,
                "data_stream": {"seed": cfg.seed, "next_example": self.step * batch_size},
                "best_sdr": self.best_sdr, "best_step": self.best_step,
                "last_sdr": self.last_sdr, "last_val_step": self.last_val_step,
                "history": self.history}


def _init_weights(model, mconfig, spec: str) -> None:
    """Copy the weights of the artifact ``spec`` into ``model`` (built from ``mconfig``).

    Raises ConfigError when the artifact's architecture config differs from ``mconfig``
    (the weights would not fit, or would mean something else).
    """
    from rtsep.runtime.artifact import load_artifact

    art = load_artifact(spec)
    if art.config != mconfig:
        raise ConfigError(f"--init-from {spec}: that model is a {art.config.arch} with another "
                          f"configuration than this run's; train with its config "
                          f"(--config {art.path / 'config.json'}) or drop --init-from")
    model.set_weights(art.model.get_weights())


def _check_resume_compatible(saved: TrainConfig, cfg: TrainConfig) -> None:
    a, b = saved.to_dict(), cfg.to_dict()
    diff = sorted(k for k in a if k not in _RESUME_MAY_CHANGE and a[k] != b[k])
    if diff:
        detail = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in diff)
        raise ConfigError(f"cannot resume: the run in {cfg.out} was started with other settings ({detail}); "
                          f"resume with the same options, or train into another --out")


def train(config: TrainConfig, *, resume: bool = False, show_progress: bool = True,
          on_step: Callable[[int, float], None] | None = None) -> Path:
    """Train a model; return the artifact folder (``config.out``).

    Parameters
    ----------
    config : TrainConfig
    resume : bool
        Continue from the latest checkpoint in ``out/checkpoints`` (start afresh if
        there is none). Without it, ``out`` must be empty or absent.
    show_progress : bool
        Show a rich progress bar (loss, examples/s) and one line per validation.
    on_step : callable(step, loss), optional
        Called after every step (a hook for tests and notebooks; raising
        KeyboardInterrupt from it behaves like Ctrl-C).

    Raises
    ------
    ConfigError, DatasetError
        Bad settings, a non-empty ``out`` without ``resume``, a resume with changed
        settings, a dataset problem.
    KeyboardInterrupt
        After saving a checkpoint, when interrupted by Ctrl-C or SIGTERM.
    """
    cfg = config
    out = Path(cfg.out)
    mconfig = cfg.model_config_obj()
    checkpoints = list_checkpoints(out) if out.is_dir() else []
    if resume:
        saved_path = out / TRAIN_CONFIG_FILE
        if checkpoints and saved_path.is_file():
            _check_resume_compatible(TrainConfig.from_json_file(saved_path), cfg)
    elif out.is_dir() and any(out.iterdir()):
        what = "checkpoints of an earlier run" if checkpoints else "files"
        raise ConfigError(f"output folder {str(out)!r} already holds {what}; pass --resume to continue "
                          f"that run, or choose another --out (or delete the folder)")

    tracks = find_tracks(cfg.data)
    train_tracks, val_tracks = split_tracks(tracks, val_fraction=cfg.val_fraction, seed=cfg.seed)
    sampler = ExampleSampler(train_tracks, cfg.augment, seed=cfg.seed, target=TARGET_OF_LOSS[cfg.loss])
    excerpts = validation_excerpts(val_tracks, n_excerpts=cfg.val_excerpts, seconds=cfg.val_seconds)

    import keras
    import tensorflow as tf

    from rtsep.nn import build_model, count_params
    from rtsep.runtime.compiled import ModelRuntime

    strategy = _make_strategy(cfg.strategy)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise ConfigError(f"batch_size {cfg.batch_size} must be a multiple of the {replicas} replicas "
                          f"of strategy {cfg.strategy!r}")
    chief = _is_chief(strategy)
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(mconfig)
        optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(cfg),
                                          global_clipnorm=cfg.clip_norm or None)
        optimizer.build(model.trainable_variables)

    run = _RunState()
    if resume and checkpoints:
        state = _load_checkpoint(checkpoints[-1][1], model, optimizer)
        run = _RunState(step=int(state["step"]), best_sdr=state.get("best_sdr"),
                        best_step=int(state.get("best_step", -1)), last_sdr=state.get("last_sdr"),
                        last_val_step=int(state.get("last_val_step", -1)),
                        history=list(state.get("history", [])))
        if run.step != int(optimizer.iterations.numpy()):
            raise ConfigError(f"checkpoint {checkpoints[-1][1]} is inconsistent: step {run.step} but the "
                              f"optimizer made {int(optimizer.iterations.numpy())} steps")
    elif cfg.init_from is not None:
        _init_weights(model, mconfig, cfg.init_from)
    if chief:
        out.mkdir(parents=True, exist_ok=True)
        (out / TRAIN_CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")

    loss_fn = _per_example_loss(cfg.loss)
    global_batch = cfg.batch_size
    start_index = run.step * global_batch

    def dataset_fn(ctx):
        per_replica = ctx.get_per_replica_batch_size(global_batch)
        return make_dataset(sampler, batch_size=per_replica, start_index=start_index,
                            workers=cfg.workers, shard_index=ctx.input_pipeline_id,
                            num_shards=ctx.num_input_pipelines,
                            replicas_per_shard=ctx.num_replicas_in_sync // ctx.num_input_pipelines)

    dist_ds = strategy.distribute_datasets_from_function(dataset_fn)

    @tf.function
    def train_step(x, y):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                est = model(x, training=True)
                loss = tf.reduce_sum(loss_fn(est, y, x)) / global_batch
                if model.losses:
                    loss += tf.add_n(model.losses) / replicas
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        per_replica = strategy.run(replica_step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    writer = tf.summary.create_file_writer(str(out / LOGS_DIR)) if chief else tf.summary.create_noop_writer()
    runtime = ModelRuntime.from_model(model, mconfig, batch_size=4, warmup_calls=0) if excerpts else None
    say = _printer(show_progress and chief)
    n_params = count_params(model)
    say(f"training {mconfig.arch} ({n_params:,} parameters) on {len(train_tracks)} tracks "
        f"({dataset_hours(train_tracks):.2f} h), validating on {len(val_tracks)} "
        f"({len(excerpts)} excerpts); strategy {cfg.strategy} with {replicas} replica(s)"
        + (f"; resuming at step {run.step}" if run.step
           else f"; starting from the weights of {cfg.init_from}" if cfg.init_from else ""))

    def checkpoint():
        # the optimizer's counter is the truth: an interrupt may land between a finished
        # step and the Python bookkeeping after it
        run.step = int(optimizer.iterations.numpy())
        if chief:
            _save_checkpoint(out, model, optimizer, run.to_json(cfg, global_batch), cfg.keep_checkpoints)

    def card_and_training():
        return (_model_card(cfg, run, train_tracks, val_tracks, excerpts),
                {"train_config": cfg.to_dict(), "step": run.step, "validation_sdr": run.best_sdr
                 if excerpts else None, "validation_step": run.best_step if excerpts else None})

    def run_validation():
        sdr = validate(runtime, excerpts)
        run.last_sdr, run.last_val_step = sdr, run.step
        run.history.append({"step": run.step, "sdr": sdr})
        with writer.as_default():
            for s in (*STEMS, "mean"):
                if math.isfinite(sdr[s]):
                    _scalar(f"val/sdr_{s}", sdr[s], step=run.step)
        writer.flush()
        best = _mean_sdr(run.best_sdr)
        improved = math.isfinite(_mean_sdr(sdr)) and not (_mean_sdr(sdr) <= best)
        if improved or run.best_sdr is None:
            run.best_sdr, run.best_step = sdr, run.step
            if chief:
                card, training = card_and_training()
                _publish_artifact(out, model, mconfig, card, training)
        say(f"step {run.step}: validation SDR " + ", ".join(f"{s} {sdr[s]:.2f}" for s in STEMS)
            + f" dB (mean {_mean_sdr(sdr):.2f})" + ("  [best: artifact saved]" if run.best_step == run.step else ""))

    iterator = None
    progress = None
    try:
        with _Interrupt():
            iterator = iter(dist_ds)
            progress = _Progress(cfg.steps, run.step, global_batch, show_progress and chief)
            losses = []
            while run.step < cfg.steps:
                x, y = next(iterator)
                loss = float(train_step(x, y))
                run.step += 1
                if not math.isfinite(loss):
                    raise ConfigError(f"the loss became {loss} at step {run.step}; lower --lr "
                                      f"(now {cfg.lr}) or resume from the last checkpoint")
                losses.append(loss)
                progress.update(run.step, loss)
                if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                    with writer.as_default():
                        _scalar("train/loss", float(np.mean(losses)), step=run.step)
                        _scalar("train/lr", float(optimizer.learning_rate), step=run.step)
                        _scalar("train/examples_per_s", progress.rate, step=run.step)
                    losses = []
                if on_step is not None:
                    on_step(run.step, loss)
                if excerpts and cfg.val_every and run.step % cfg.val_every == 0:
                    run_validation()  # before the checkpoint, so that it records the result
                if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
                    checkpoint()
            progress.close()
            validated_now = bool(excerpts) and run.last_val_step != run.step
            if validated_now:
                run_validation()
            saved = list_checkpoints(out)
            if validated_now or not saved or saved[-1][0] != run.step:
                checkpoint()  # (again, if needed) so that it records the final validation
            if chief and (not excerpts or not (out / "config.json").is_file()):
                card, training = card_and_training()
                _publish_artifact(out, model, mconfig, card, training)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        # A signal that lands after the optimizer applied a step but before the loop
        # counted it would leave the checkpoint one step behind its weights (resume
        # then refuses it): the optimizer's count is the truth.
        run.step = int(optimizer.iterations.numpy())
        saved = list_checkpoints(out)
        if not saved or saved[-1][0] != int(optimizer.iterations.numpy()):
            checkpoint()
        if chief:
            print(f"interrupted at step {run.step}: checkpoint saved in {out / CHECKPOINTS_DIR}; "
                  f"continue with --resume", file=sys.stderr, flush=True)
        raise
    finally:
        if progress is not None:
            progress.close()
        writer.close()
        # A tf.data iterator still alive at interpreter exit can hang the exit: drop it now.
        del iterator, dist_ds
        gc.collect()
    return out


def _model_card(cfg: TrainConfig, run: _RunState, train_tracks, val_tracks, excerpts) -> dict:
    loss = {"l1": "L1 on stem magnitudes (mean over stems, bins, frames, channels)",
            "l1_log": "L1 on log1p of stem magnitudes",
            "psa": "L1 between the ratio-masked mixture magnitudes and the phase-sensitive "
                   "targets Re(S conj(X))/|X|"}[cfg.loss]
    card: dict[str, Any] = {
        "training data": (f"`{cfg.data}`: {len(train_tracks)} training tracks "
                          f"({dataset_hours(train_tracks):.2f} h), {len(val_tracks)} validation tracks "
                          f"({dataset_hours(val_tracks):.2f} h), split by track with seed {cfg.seed}"),
        "steps": (f"{run.step} steps of batch {cfg.batch_size} ({run.step * cfg.batch_size} excerpts of "
                  f"192 frames) out of {cfg.steps} planned"),
    }
    if cfg.init_from:
        card["initialisation"] = f"the weights of the model `{cfg.init_from}` (fine-tuned)"
    if excerpts and run.best_sdr is not None:
        card["sdr"] = {s: f"{run.best_sdr[s]:.2f}" for s in (*STEMS, "mean")}
        card["sdr command"] = (f"validation inside `rtsep train` at step {run.best_step}: "
                               f"{len(excerpts)} fixed excerpts of up to {cfg.val_seconds:g} s of the "
                               f"validation tracks, separated offline, museval median SDR per excerpt, "
                               f"median over excerpts")
    else:
        card["sdr"] = "not measured during training (no validation tracks); run `rtsep eval`"
    card["loss"] = loss
    card["optimiser"] = (f"Adam, peak lr {cfg.lr:g}, linear warm-up {min(cfg.warmup_steps, cfg.steps // 2)} "
                         f"steps, cosine decay to {cfg.lr * cfg.min_lr_ratio:g} at step {cfg.steps}, "
                         f"gradient clip {cfg.clip_norm:g}")
    card["augmentation"] = cfg.augment.to_dict()
    card["command"] = cfg.command or "rtsep.train.train(TrainConfig(...)) from Python"
    return card


def _printer(enabled: bool):
    def say(msg: str) -> None:
        if enabled:
            print(msg, file=sys.stderr, flush=True)
    return say


class _Progress:
    """A rich progress bar with loss and examples/s (or nothing when disabled)."""

    def __init__(self, total: int, start: int, batch_size: int, enabled: bool):
        self.batch_size = batch_size
        self._times: deque = deque(maxlen=50)
        self._started = False
        self.rate = 0.0
        self._bar = None
        if enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"),
                                 TextColumn("{task.fields[rate]} ex/s"),
                                 TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("train", total=total, completed=start, loss="-", rate="-")

    def update(self, step: int, loss: float) -> None:
        now = time.perf_counter()
        if not self._started:  # the first step traces the graph: leave it out of the rate
            self._started = True
            self._times.clear()
        self._times.append((step, now))
        (s0, t0) = self._times[0]
        if step > s0 and now > t0:
            self.rate = (step - s0) * self.batch_size / (now - t0)
        if self._bar is not None:
            self._bar.update(self._task, completed=step, loss=f"{loss:.4g}", rate=f"{self.rate:.2f}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
