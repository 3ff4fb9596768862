"""The model card of a training run: what it was trained on, how long, how well."""

from __future__ import annotations

from typing import Any

from rtsep.constants import STEMS
from rtsep.training.checkpoints import RunState
from rtsep.training.config import TrainConfig
from rtsep.training.losses import DESCRIPTIONS
from rtsep.training.tracks import dataset_hours


def model_card(cfg: TrainConfig, run: RunState, train_tracks, val_tracks, excerpts) -> dict:
    """The model card's sections of a run (rendered by :func:`rtsep.runtime.artifact.render_card`).

    Parameters
    ----------
    cfg : TrainConfig
    run : RunState
    train_tracks, val_tracks : list of rtsep.training.tracks.Track
    excerpts : list of rtsep.training.excerpts.ValidationExcerpt

    Returns
    -------
    dict
        Section title -> text, number, list or dict.
    """
    card: dict[str, Any] = {
        "training data": (f"`{cfg.data}`: {len(train_tracks)} training tracks "
                          f"({dataset_hours(train_tracks):.2f} h), {len(val_tracks)} validation tracks "
                          f"({dataset_hours(val_tracks):.2f} h), split by track with seed {cfg.seed}"),
        "steps": (f"{run.step} steps of batch {cfg.batch_size} ({run.step * cfg.batch_size} excerpts of "
                  f"192 frames) out of {cfg.steps} planned"),
    }
    if cfg.init_from:
        card["initialisation"] = (f"the weights of the model `{cfg.init_from}`: all of them when "
                                  "its architecture is this one's (fine-tuned), else those with "
                                  "the same layer path and shape (a warm start)")
    if excerpts and run.best_sdr is not None:
        card["sdr"] = {s: f"{run.best_sdr[s]:.2f}" for s in (*STEMS, "mean")}
        card["sdr command"] = (f"validation inside `rtsep train` at step {run.best_step}: "
                               f"{len(excerpts)} fixed excerpts of up to {cfg.val_seconds:g} s of the "
                               f"validation tracks, separated offline, museval median SDR per excerpt, "
                               f"median over excerpts")
    else:
        card["sdr"] = "not measured during training (no validation tracks); run `rtsep eval`"
    card["loss"] = DESCRIPTIONS[cfg.loss]
    card["optimiser"] = (f"Adam, peak lr {cfg.lr:g}, linear warm-up {min(cfg.warmup_steps, cfg.steps // 2)} "
                         f"steps, cosine decay to {cfg.lr * cfg.min_lr_ratio:g} at step {cfg.steps}, "
                         f"gradient clip {cfg.clip_norm:g}")
    card["augmentation"] = cfg.augment.to_dict()
    card["command"] = cfg.command or "rtsep.training.loop.train(TrainConfig(...)) from Python"
    return card
