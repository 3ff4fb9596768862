"""Validation during training: the model separates fixed excerpts offline, scored by SDR.

:func:`validation_runtime` wraps the model in training as the offline separator calls
it, :func:`validate` scores it on the validation excerpts
(:func:`rtsep.training.excerpts.validation_excerpts`), and :func:`mean_sdr` is the one
number the training loop compares (the best so far is published as the artifact).
:func:`validate_leakage` measures, beside it, how much of vocal-free music the model
puts on its vocals output (``rtsep train --val-leakage``; logged, not compared).
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


def validate_leakage(runtime, excerpts, *, batch_size: int = 4) -> dict[str, float] | None:
    """Vocal leakage of a model on fixed excerpts of music without vocals.

    Each excerpt's music (every stem but its first, the vocals: an accompaniment
    track's accompaniment, a full track's drums + bass + other) is separated alone
    with :func:`rtsep.engine.offline.separate_array` and scored with
    :func:`rtsep.evaluate.vocal_leakage_db`, as ``rtsep eval --vocal-leakage`` does
    on whole tracks.

    Returns
    -------
    dict or None
        ``{"median_db", "p90_db", "max_db", "excerpts"}`` over the excerpts whose music
        is not silent (lower is better); None when every one is silent.
    """
    from rtsep.engine.offline import separate_array
    from rtsep.evaluate import leakage_summary, vocal_leakage_db

    values = []
    for ex in excerpts:
        music = ex.stems[1:].sum(axis=0, dtype=np.float32)
        est = separate_array(runtime, music, batch_size=batch_size)
        values.append(vocal_leakage_db(est[0], music))
    summary = leakage_summary(values)
    if summary is not None:
        summary["excerpts"] = sum(v == v for v in values)
    return summary


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
