"""Validation during training: the model separates fixed excerpts offline, scored by SDR.

:func:`validation_runtime` wraps the model in training as the offline separator calls
it, :func:`validate` scores it on the validation excerpts
(:func:`rtsep.training.excerpts.validation_excerpts`), and :func:`mean_sdr` is the one
number the training loop compares (the best so far is published as the artifact).
"""

from __future__ import annotations

import math

import numpy as np

from rtsep.constants import STEMS


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


def mean_sdr(sdr: dict | None) -> float:
    """The mean of the stems' finite SDRs in ``sdr`` (NaN when there is none)."""
    if not sdr:
        return float("nan")
    vals = [sdr[s] for s in STEMS if sdr.get(s) is not None and math.isfinite(sdr[s])]
    return float(np.mean(vals)) if vals else float("nan")


def validation_runtime(model, mconfig):
    """The model as the offline separator calls it: windows for a window model, the
    step form (64 frames per step) for a streaming one."""
    if mconfig.arch.startswith("stream_"):
        from rtsep.runtime.stream import StreamRuntime

        return StreamRuntime(model, mconfig, frames=64, warmup_calls=0)
    from rtsep.runtime.compiled import ModelRuntime

    return ModelRuntime.from_model(model, mconfig, batch_size=4, warmup_calls=0)
