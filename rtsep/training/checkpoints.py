"""Checkpoints: plain files (Keras weights, numpy optimizer state, JSON state).

``OUT/checkpoints/step-NNNNNNNN/`` holds ``model.weights.h5`` (all model variables,
batch-norm statistics and dropout seed state included), ``optimizer.npz`` (every Adam
variable, its iteration counter included) and ``state.json`` (:class:`RunState`: step,
the data stream's position and seed, best validation so far, validation history).
Each is written to a temporary folder and renamed, so a crash never leaves a half
checkpoint.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtsep.errors import ConfigError, RtsepError
from rtsep.io.files import atomic_path

CHECKPOINTS_DIR = "checkpoints"
_CKPT_PREFIX = "step-"


def list_checkpoints(out: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``out/checkpoints``, oldest first, as ``(step, folder)``."""
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


def save_checkpoint(out: Path, model, optimizer, state: dict, keep: int) -> Path:
    """Write ``out/checkpoints/step-NNNNNNNN/`` through :func:`rtsep.io.files.atomic_path`
    and keep only the last ``keep`` checkpoints.

    Parameters
    ----------
    out : pathlib.Path
        The run's folder.
    model : keras.Model
    optimizer : keras.optimizers.Optimizer
    state : dict
        :meth:`RunState.to_json` (its ``"step"`` names the checkpoint).
    keep : int

    Returns
    -------
    pathlib.Path
        The checkpoint folder.
    """
    root = out / CHECKPOINTS_DIR
    final = root / f"{_CKPT_PREFIX}{state['step']:08d}"
    with atomic_path(final, folder=True) as tmp:
        with warnings.catch_warnings():  # Keras 3.15 + numpy 2.4 warn once per variable
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy",
                                    category=DeprecationWarning)
            model.save_weights(str(tmp / "model.weights.h5"))
        opt_vars = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
        opt_vars["paths"] = np.array([v.path for v in optimizer.variables])
        np.savez(tmp / "optimizer.npz", **opt_vars)
        (tmp / "state.json").write_text(json.dumps(state, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    for _, old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: Path, model, optimizer) -> dict:
    """Restore ``model`` and ``optimizer`` from a checkpoint folder; return its state.

    Raises
    ------
    ConfigError
        The checkpoint is unreadable or belongs to another model config.
    """
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


@dataclass
class RunState:
    """Where a run is: its step, its best validation so far and their history.

    Attributes
    ----------
    step : int
        Optimiser steps taken.
    best_sdr, last_sdr : dict or None
        Validation SDR per stem (and ``"mean"``) of the best and of the last validation.
    best_step, last_val_step : int
        Their steps (-1: none yet).
    history : list of dict
        ``{"step", "sdr"}`` of every validation.
    """

    step: int = 0
    best_sdr: dict | None = None
    best_step: int = -1
    last_sdr: dict | None = None
    last_val_step: int = -1
    history: list = field(default_factory=list)

    def to_json(self, seed: int, batch_size: int) -> dict:
        """The ``state.json`` of a checkpoint (the data stream's position included)."""
        return {"step": self.step, "examples_seen": self.step * batch_size,
                "data_stream": {"seed": seed, "next_example": self.step * batch_size},
                "best_sdr": self.best_sdr, "best_step": self.best_step,
                "last_sdr": self.last_sdr, "last_val_step": self.last_val_step,
                "history": self.history}

    @classmethod
    def from_json(cls, state: dict) -> "RunState":
        """Inverse of :meth:`to_json`."""
        return cls(step=int(state["step"]), best_sdr=state.get("best_sdr"),
                   best_step=int(state.get("best_step", -1)), last_sdr=state.get("last_sdr"),
                   last_val_step=int(state.get("last_val_step", -1)),
                   history=list(state.get("history", [])))


def average_checkpoints(run: str | Path, steps: list[int]):
    """The model of a run with the mean of its checkpoints' weights at ``steps`` (weight
    averaging along one run, as stochastic weight averaging does).

    Floating-point variables (weights, batch-norm statistics) are averaged in float64
    and cast back; any other variable (a seed generator's state) is the last step's.

    Parameters
    ----------
    run : the run's folder (``rtsep train --out``: its artifact files and checkpoints/)
    steps : checkpoint steps, at least one, each present in ``run/checkpoints``

    Returns
    -------
    rtsep.runtime.artifact.Artifact
        The run's artifact with the averaged weights set on its model.

    Raises
    ------
    ConfigError
        No steps, a step without a checkpoint, or a folder that is not a run's.
    """
    from rtsep.runtime.artifact import load_artifact

    steps = sorted(set(int(s) for s in steps))
    if not steps:
        raise ConfigError("give at least one checkpoint step to average")
    found = dict(list_checkpoints(run))
    missing = [s for s in steps if s not in found]
    if missing:
        have = ", ".join(str(s) for s in sorted(found)) or "none"
        raise ConfigError(f"{run} has no checkpoint at step {', '.join(map(str, missing))} "
                          f"(it has: {have}; keep more with --keep-checkpoints)")
    art = load_artifact(run)
    sums: list[np.ndarray] | None = None
    last: list[np.ndarray] = []
    for s in steps:
        art.model.load_weights(str(found[s] / "model.weights.h5"))
        last = art.model.get_weights()
        if sums is None:
            sums = [np.zeros(w.shape, np.float64) for w in last]
        for acc, w in zip(sums, last):
            if np.issubdtype(w.dtype, np.floating):
                acc += w
    art.model.set_weights([(acc / len(steps)).astype(w.dtype) if np.issubdtype(w.dtype, np.floating)
                           else w for acc, w in zip(sums, last)])
    return art
