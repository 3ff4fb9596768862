"""Training: a custom TensorFlow loop around an rtsep network.

``train(TrainConfig(data="data/songs", out="models/mine", arch="unet"))`` trains a
model on a MUSDB18-HQ-style folder and returns the artifact folder ``out``.

What ``out`` holds
------------------
- the artifact (``config.json``, ``model.weights.h5``, ``MODEL_CARD.md``
  (:mod:`rtsep.training.card`)), written by :func:`rtsep.runtime.artifact.save_artifact`: at every validation that beats the best
  validation SDR so far (mean of the four stems), and at the end when there is no
  validation split (then it is the final model);
- ``train_config.json``: the :class:`~rtsep.training.config.TrainConfig` (beside the
  artifact; also stored under ``"training"`` in ``config.json``);
- ``checkpoints/step-NNNNNNNN/`` (:mod:`rtsep.training.checkpoints`): weights,
  optimizer state and run state; the last ``keep_checkpoints`` are kept;
- ``logs/``: TensorBoard summaries (:mod:`rtsep.training.tensorboard`) (``train/loss``, ``train/lr``,
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

Losses: :mod:`rtsep.training.losses`. Optimiser: Adam with a linear warm-up over ``warmup_steps`` and a cosine decay to
``lr * min_lr_ratio`` at ``steps``; the gradient's global norm is clipped at
``clip_norm`` (0: no clipping).

Distribution: ``strategy`` ``"none"`` (default device), ``"mirrored"``
(``tf.distribute.MirroredStrategy``: all local GPUs, or the CPU) or
``"multiworker"`` (``tf.distribute.MultiWorkerMirroredStrategy``, cluster from
``TF_CONFIG``; only the chief writes files). ``batch_size`` is the global batch,
split over replicas; every replica's input pipeline makes only its own examples.
"""

from __future__ import annotations

import gc
import math
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from rtsep.constants import STEMS
from rtsep.errors import ConfigError
from rtsep.io.jsonio import write_json_atomic
from rtsep.training import tensorboard
from rtsep.training.artifacts import init_weights, publish_artifact
from rtsep.training.card import model_card
from rtsep.training.checkpoints import (CHECKPOINTS_DIR, RunState, list_checkpoints,
                                        load_checkpoint, save_checkpoint)
from rtsep.training.config import TRAIN_CONFIG_FILE, TrainConfig, check_resume_compatible
from rtsep.training.data import ExampleSampler
from rtsep.training.excerpts import validation_excerpts
from rtsep.training.losses import TARGET_OF_LOSS, per_example_loss
from rtsep.training.pipeline import make_dataset
from rtsep.training.tracks import dataset_hours, find_tracks, split_tracks
from rtsep.training.validation import mean_sdr, validate, validate_leakage, validation_runtime

LOGS_DIR = "logs"

Progress = Callable[..., None]
"""``progress(step, total, loss=..., rate=...)``: after every step (loss and examples/s
as floats; at the start without them)."""


def train(config: TrainConfig, *, resume: bool = False, progress: Progress | None = None,
          log: Callable[[str], None] | None = None,
          on_step: Callable[[int, float], None] | None = None) -> Path:
    """Train a model; return the artifact folder (``config.out``).

    Parameters
    ----------
    config : TrainConfig
    resume : bool
        Continue from the latest checkpoint in ``out/checkpoints`` (start afresh if
        there is none). Without it, ``out`` must be empty or absent.
    progress : callable(step, total, loss=..., rate=...), optional
        Told the step after every step (the command line draws its progress bar).
    log : callable(str), optional
        Told what happens: the run's size at the start, one line per validation.
    on_step : callable(step, loss), optional
        Called after every step (a hook for tests and notebooks; raising
        KeyboardInterrupt from it behaves like Ctrl-C).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigError, DatasetError
        Bad settings, a non-empty ``out`` without ``resume``, a resume with changed
        settings, a dataset problem.
    KeyboardInterrupt
        After saving a checkpoint, when interrupted by Ctrl-C or SIGTERM.
    """
    run = _Training(config, resume=resume, log=log or (lambda msg: None))
    return run.fit(progress, on_step)


class _Training:
    """One training run: its data, model, optimizer and state (see :func:`train`)."""

    def __init__(self, cfg: TrainConfig, *, resume: bool, log: Callable[[str], None]):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.mconfig = cfg.model_config_obj()
        checkpoints = self._check_out(resume)
        tracks = find_tracks(cfg.data)
        self.train_tracks, self.val_tracks = split_tracks(tracks, val_fraction=cfg.val_fraction,
                                                          seed=cfg.seed)
        self.sampler = ExampleSampler(self.train_tracks, cfg.augment, seed=cfg.seed,
                                      target=TARGET_OF_LOSS[cfg.loss],
                                      partial_fraction=cfg.partial_fraction)
        self.excerpts = validation_excerpts(self.val_tracks, n_excerpts=cfg.val_excerpts,
                                            seconds=cfg.val_seconds)
        self.leak_excerpts = []
        if cfg.val_leakage:  # one excerpt per track, the tracks spread over the folder
            music, n = find_tracks(cfg.val_leakage), cfg.val_leakage_excerpts
            if n < len(music):
                music = [music[i * len(music) // n] for i in range(n)]
            self.leak_excerpts = validation_excerpts(music, n_excerpts=n, seconds=cfg.val_seconds)
        self._build_model(resume, checkpoints)
        self.say = log if self.chief else (lambda msg: None)

    def _check_out(self, resume: bool) -> list:
        out = self.out
        checkpoints = list_checkpoints(out) if out.is_dir() else []
        if resume:
            saved_path = out / TRAIN_CONFIG_FILE
            if checkpoints and saved_path.is_file():
                check_resume_compatible(TrainConfig.from_json_file(saved_path), self.cfg)
        elif out.is_dir() and any(out.iterdir()):
            what = "checkpoints of an earlier run" if checkpoints else "files"
            raise ConfigError(f"output folder {str(out)!r} already holds {what}; pass --resume to continue "
                              f"that run, or choose another --out (or delete the folder)")
        return checkpoints

    def _build_model(self, resume: bool, checkpoints: list) -> None:
        """Strategy, model, optimizer, the run state (restored or fresh), the input pipeline."""
        import keras

        cfg = self.cfg
        self.strategy = _make_strategy(cfg.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if cfg.batch_size % self.replicas:
            raise ConfigError(f"batch_size {cfg.batch_size} must be a multiple of the {self.replicas} "
                              f"replicas of strategy {cfg.strategy!r}")
        self.chief = _is_chief(self.strategy)
        keras.utils.set_random_seed(cfg.seed)
        from rtsep.nn import build_model

        with self.strategy.scope():
            self.model = build_model(self.mconfig)
            self.optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(cfg),
                                                   global_clipnorm=cfg.clip_norm or None)
            self.optimizer.build(self.model.trainable_variables)
        self.run = RunState()
        if resume and checkpoints:
            self.run = RunState.from_json(load_checkpoint(checkpoints[-1][1], self.model, self.optimizer))
            if self.run.step != self._optimizer_steps():
                raise ConfigError(f"checkpoint {checkpoints[-1][1]} is inconsistent: step {self.run.step} "
                                  f"but the optimizer made {self._optimizer_steps()} steps")
        elif cfg.init_from is not None:
            self._init_note = init_weights(self.model, self.mconfig, cfg.init_from)
        if self.chief:
            write_json_atomic(self.out / TRAIN_CONFIG_FILE, cfg.to_dict(), indent=2)
        self._train_step = self._make_train_step()
        self._dist_ds = self.strategy.distribute_datasets_from_function(self._dataset)

    def _optimizer_steps(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def _dataset(self, ctx):
        per_replica = ctx.get_per_replica_batch_size(self.cfg.batch_size)
        return make_dataset(self.sampler, batch_size=per_replica,
                            start_index=self.run.step * self.cfg.batch_size,
                            workers=self.cfg.workers, shard_index=ctx.input_pipeline_id,
                            num_shards=ctx.num_input_pipelines,
                            replicas_per_shard=ctx.num_replicas_in_sync // ctx.num_input_pipelines)

    def _make_train_step(self):
        import tensorflow as tf

        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        loss_fn = per_example_loss(self.cfg.loss)
        global_batch, replicas = self.cfg.batch_size, self.replicas

        @tf.function
        def train_step(x, y, full):
            def replica_step(x, y, full):
                with tf.GradientTape() as tape:
                    est = model(x, training=True)
                    loss = tf.reduce_sum(loss_fn(est, y, x, full)) / global_batch
                    if model.losses:
                        loss += tf.add_n(model.losses) / replicas
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
                return loss

            per_replica = strategy.run(replica_step, args=(x, y, full))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return train_step

    # -- the run --------------------------------------------------------------------------
    def fit(self, progress: Progress | None, on_step) -> Path:
        """Train to ``cfg.steps``; validate, checkpoint and publish the artifact on the way."""
        from rtsep.nn import count_params

        cfg, run = self.cfg, self.run
        self.writer = tensorboard.writer(self.out / LOGS_DIR, enabled=self.chief)
        self.runtime = validation_runtime(self.model, self.mconfig) if self.excerpts else None
        self.say(f"training {self.mconfig.arch} ({count_params(self.model):,} parameters) on "
                 f"{len(self.train_tracks)} tracks ({dataset_hours(self.train_tracks):.2f} h), "
                 f"validating on {len(self.val_tracks)} ({len(self.excerpts)} excerpts); strategy "
                 f"{cfg.strategy} with {self.replicas} replica(s)"
                 + (f"; resuming at step {run.step}" if run.step
                    else f"; starting from {self._init_note}" if cfg.init_from else ""))
        self._iterator = None
        try:
            with _Interrupt():
                self._iterator = iter(self._dist_ds)
                self._steps(progress if self.chief else None, on_step)
                self._finish()
        except KeyboardInterrupt:
            self._on_interrupt()
            raise
        finally:
            self.writer.close()
            # A tf.data iterator still alive at interpreter exit can hang the exit: drop it now.
            self._iterator = self._dist_ds = None
            gc.collect()
        return self.out

    def _steps(self, progress: Progress | None, on_step) -> None:
        cfg, run = self.cfg, self.run
        rate = _Rate(cfg.batch_size)
        if progress is not None:
            progress(run.step, cfg.steps)
        losses = []
        while run.step < cfg.steps:
            x, y, full = next(self._iterator)
            loss = float(self._train_step(x, y, full))
            run.step += 1
            if not math.isfinite(loss):
                raise ConfigError(f"the loss became {loss} at step {run.step}; lower --lr "
                                  f"(now {cfg.lr}) or resume from the last checkpoint")
            losses.append(loss)
            rate.update(run.step)
            if progress is not None:
                progress(run.step, cfg.steps, loss=loss, rate=rate.per_s)
            if run.step % cfg.log_every == 0 or run.step == cfg.steps:
                with self.writer.as_default():
                    tensorboard.scalar("train/loss", float(np.mean(losses)), step=run.step)
                    tensorboard.scalar("train/lr", float(self.optimizer.learning_rate), step=run.step)
                    tensorboard.scalar("train/examples_per_s", rate.per_s, step=run.step)
                losses = []
            if on_step is not None:
                on_step(run.step, loss)
            if self.excerpts and cfg.val_every and run.step % cfg.val_every == 0:
                self._validate()  # before the checkpoint, so that it records the result
            if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0:
                self._checkpoint()

    def _finish(self) -> None:
        """The last validation and checkpoint; the artifact when validation never wrote one."""
        run = self.run
        validated_now = bool(self.excerpts) and run.last_val_step != run.step
        if validated_now:
            self._validate()
        saved = list_checkpoints(self.out)
        if validated_now or not saved or saved[-1][0] != run.step:
            self._checkpoint()  # (again, if needed) so that it records the final validation
        if self.chief and (not self.excerpts or not (self.out / "config.json").is_file()):
            self._publish()

    def _on_interrupt(self) -> None:
        # A signal that lands after the optimizer applied a step but before the loop
        # counted it would leave the checkpoint one step behind its weights (resume
        # then refuses it): the optimizer's count is the truth.
        self.run.step = self._optimizer_steps()
        saved = list_checkpoints(self.out)
        if not saved or saved[-1][0] != self.run.step:
            self._checkpoint()
        if self.chief:
            print(f"interrupted at step {self.run.step}: checkpoint saved in "
                  f"{self.out / CHECKPOINTS_DIR}; continue with --resume", file=sys.stderr, flush=True)

    def _checkpoint(self) -> None:
        # the optimizer's counter is the truth: an interrupt may land between a finished
        # step and the Python bookkeeping after it
        self.run.step = self._optimizer_steps()
        if self.chief:
            save_checkpoint(self.out, self.model, self.optimizer,
                            self.run.to_json(self.cfg.seed, self.cfg.batch_size),
                            self.cfg.keep_checkpoints)

    def _publish(self) -> None:
        """The artifact of the model as it is now, with its card."""
        run, cfg = self.run, self.cfg
        card = model_card(cfg, run, self.train_tracks, self.val_tracks, self.excerpts)
        training = {"train_config": cfg.to_dict(), "step": run.step,
                    "validation_sdr": run.best_sdr if self.excerpts else None,
                    "validation_step": run.best_step if self.excerpts else None}
        publish_artifact(self.out, self.model, self.mconfig, card, training)

    def _validate(self) -> None:
        """Validation SDR now; the artifact when it is the best so far."""
        run = self.run
        sdr = validate(self.runtime, self.excerpts)
        run.last_sdr, run.last_val_step = sdr, run.step
        run.history.append({"step": run.step, "sdr": sdr})
        with self.writer.as_default():
            for s in (*STEMS, "mean"):
                if math.isfinite(sdr[s]):
                    tensorboard.scalar(f"val/sdr_{s}", sdr[s], step=run.step)
        self.writer.flush()
        best = mean_sdr(run.best_sdr)
        improved = math.isfinite(mean_sdr(sdr)) and not (mean_sdr(sdr) <= best)
        if improved or run.best_sdr is None:
            run.best_sdr, run.best_step = sdr, run.step
            if self.chief:
                self._publish()
        self.say(f"step {run.step}: validation SDR " + ", ".join(f"{s} {sdr[s]:.2f}" for s in STEMS)
                 + f" dB (mean {mean_sdr(sdr):.2f})"
                 + ("  [best: artifact saved]" if run.best_step == run.step else ""))
        if self.leak_excerpts:
            self._validate_leakage()

    def _validate_leakage(self) -> None:
        """Vocal leakage on the ``--val-leakage`` excerpts now: logged, kept in the history."""
        run = self.run
        leak = validate_leakage(self.runtime, self.leak_excerpts)
        run.history[-1]["leakage"] = leak
        if leak is None:
            self.say(f"step {run.step}: vocal leakage: every excerpt of {self.cfg.val_leakage} is silent")
            return
        with self.writer.as_default():
            for key in ("median_db", "p90_db", "max_db"):
                tensorboard.scalar(f"val/leakage_{key}", leak[key], step=run.step)
        self.writer.flush()
        self.say(f"step {run.step}: vocal leakage median {leak['median_db']:.2f} dB, p90 "
                 f"{leak['p90_db']:.2f}, max {leak['max_db']:.2f} ({leak['excerpts']} excerpts)")


class _Rate:
    """Examples per second over the last 50 steps (the first step, which traces the
    graph, left out)."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self._times: deque = deque(maxlen=50)
        self._started = False
        self.per_s = 0.0

    def update(self, step: int) -> None:
        now = time.perf_counter()
        if not self._started:
            self._started = True
            self._times.clear()
        self._times.append((step, now))
        s0, t0 = self._times[0]
        if step > s0 and now > t0:
            self.per_s = (step - s0) * self.batch_size / (now - t0)


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


def _learning_rate(cfg: TrainConfig):
    """Linear warm-up, then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
    import keras

    warm = min(cfg.warmup_steps, cfg.steps // 2)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.lr if warm == 0 else cfg.lr * 1e-3,
        decay_steps=max(1, cfg.steps - warm), alpha=cfg.min_lr_ratio,
        warmup_target=None if warm == 0 else cfg.lr, warmup_steps=warm)


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
