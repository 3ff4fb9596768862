"""The artifact a training run publishes, and the one it may start from.

:func:`publish_artifact` writes the model as it is now (the best so far) into the run's
folder beside its checkpoints and logs; :func:`init_weights` warm-starts a new model
from an artifact's weights (``--init-from``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from rtsep.errors import ConfigError


def publish_artifact(out: Path, model, mconfig, card: dict, training: dict) -> None:
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


def init_weights(model, mconfig, spec: str) -> str:
    """Copy the weights of the artifact ``spec`` into ``model`` (built from ``mconfig``).

    All of them when the artifact's architecture config equals ``mconfig``; else the
    ones with the same layer path and shape (:func:`rtsep.nn.transfer_weights`).

    Returns
    -------
    str
        What was copied, in words (for the log).

    Raises
    ------
    ConfigError
        Another architecture sharing no weight with this one.
    """
    from rtsep.nn import count_params, transfer_weights
    from rtsep.runtime.artifact import load_artifact

    art = load_artifact(spec)
    if art.config == mconfig:
        model.set_weights(art.model.get_weights())
        return f"the weights of {spec}"
    copied, kept = transfer_weights(art.model, model)
    if not copied:
        raise ConfigError(f"--init-from {spec}: that model is a {art.config.arch} sharing no weight "
                          f"(same layer path and shape) with this {mconfig.arch}; drop --init-from "
                          f"or train with its config (--config {art.path / 'config.json'})")
    n = sum(int(np.prod(w.shape)) for w in model.weights if w.path in set(copied))
    return (f"the {n:,} of {count_params(model):,} parameters ({len(copied)} of "
            f"{len(copied) + len(kept)} weights) this {mconfig.arch} shares with the "
            f"{art.config.arch} {spec}")
