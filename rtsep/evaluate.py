"""Evaluation: SDR as museval reports it, per track and over a dataset.

Per track and stem: the median over 1-second frames of museval's BSS Eval v4 SDR
(frames where a reference is silent are NaN and skipped). Over a dataset: the
median over tracks. ``mean`` is the mean of the four stem medians. The mixture
baseline scores the mixture itself as the estimate of every stem.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from rtsep.constants import SAMPLE_RATE, STEMS
from rtsep.errors import ConfigError, DatasetError


def sdr_museval(references: np.ndarray, estimates: np.ndarray) -> dict[str, float]:
    """Median framewise SDR per stem.

    Parameters
    ----------
    references, estimates : np.ndarray [shape=(4, n_samples, 2)]
        In ``STEMS`` order.

    Returns
    -------
    dict
        ``{stem: median SDR in dB}`` (NaN when every frame of a stem is silent).
    """
    import museval  # imports musdb and stempeg, which need ffmpeg on the PATH

    refs = np.asarray(references, np.float64)
    ests = np.asarray(estimates, np.float64)
    if refs.shape != ests.shape or refs.ndim != 3 or refs.shape[0] != len(STEMS):
        raise ValueError(f"references {refs.shape} and estimates {ests.shape} must both be (4, n, 2)")
    # museval refuses a source that is silent over the whole excerpt; score the rest.
    live = [j for j in range(len(STEMS)) if np.any(refs[j]) and np.any(ests[j])]
    result = {s: float("nan") for s in STEMS}
    if not live:
        return result
    sdr = museval.evaluate(refs[live], ests[live], win=SAMPLE_RATE, hop=SAMPLE_RATE)[0]
    for row, j in enumerate(live):
        vals = sdr[row][np.isfinite(sdr[row])]
        result[STEMS[j]] = float(np.median(vals)) if vals.size else float("nan")
    return result


def summarize(per_track: dict[str, dict[str, float]]) -> dict[str, float]:
    """Median over tracks per stem, and ``mean`` of the four medians."""
    out = {}
    for s in STEMS:
        vals = np.array([t[s] for t in per_track.values()], np.float64)
        vals = vals[np.isfinite(vals)]
        out[s] = float(np.median(vals)) if vals.size else float("nan")
    out["mean"] = float(np.mean([out[s] for s in STEMS]))
    return out


def _model_and_config(model_spec: str, config, threads: int | None):
    """The loaded model (None for ``"oracle"``) and its offline config: ``config`` when
    it is a StreamConfig, else the model's default with the given fields replaced."""
    from rtsep.engine.config import StreamConfig
    from rtsep.engine.offline import offline_config
    from rtsep.runtime.loader import load_model

    model = None if model_spec == "oracle" else load_model(model_spec, threads=threads)
    if not isinstance(config, StreamConfig):
        config = offline_config(model, **(config or {}))
    return model, config


def evaluate_dataset(dataset, model_spec: str = "default", *, config=None,
                     batch_size: int = 4, threads: int | None = None,
                     on_track: Callable[[str, dict, dict], None] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> dict:
    """Separate every track of a dataset and score it.

    Parameters
    ----------
    dataset : str | Path
        A folder of track folders in the MUSDB18-HQ layout (or one track folder).
    model_spec : str
        ``"oracle"``, a model NAME or PATH.
    config : StreamConfig or dict, optional
        The offline config, or fields (None: not given) that replace those of the
        model's default (:func:`rtsep.engine.offline.offline_config`).
    on_track : callable(name, model_sdr, mixture_sdr), optional
        Called after each track.

    Returns
    -------
    dict
        ``{"model": spec, "dataset": path, "stream_config": {...}, "tracks": {name:
        {"model": {...}, "mixture": {...}}},
        "median": {stem..., "mean"}, "mixture_median": {stem..., "mean"}}``
    """
    from rtsep.io.tracks import list_tracks, read_track
    from rtsep.engine.offline import separate_array
    from rtsep.runtime.loader import load_model

    tracks = list_tracks(dataset)
    model, config = _model_and_config(model_spec, config, threads)
    per_model, per_mix, details = {}, {}, {}
    for i, folder in enumerate(tracks):
        tr = read_track(folder)
        stems = np.stack([tr[s] for s in STEMS])
        mix = tr["mixture"]
        m = load_model("oracle", stems=stems, config=config) if model is None else model
        est = separate_array(m, mix, config, batch_size=batch_size)
        name = folder.name
        per_model[name] = sdr_museval(stems, est[:len(STEMS)])
        per_mix[name] = sdr_museval(stems, np.broadcast_to(mix, stems.shape))
        details[name] = {"model": per_model[name], "mixture": per_mix[name],
                         "seconds": mix.shape[0] / SAMPLE_RATE}
        if on_track is not None:
            on_track(name, per_model[name], per_mix[name])
        if progress is not None:
            progress(i + 1, len(tracks))
    if not details:
        raise DatasetError(f"{dataset}: no tracks evaluated")
    used = config
    return {"model": model_spec, "dataset": str(dataset),
            "stream_config": {"lookahead_frames": used.lookahead_frames,
                              "model_hop_frames": used.model_hop_frames,
                              "high_band": used.high_band, "mask_power": float(used.mask_power)},
            "tracks": details,
            "median": summarize(per_model), "mixture_median": summarize(per_mix)}


def vocal_leakage_db(vocals_est: np.ndarray, x: np.ndarray) -> float:
    """Energy of a vocals estimate relative to its vocal-free input, in dB.

    Parameters
    ----------
    vocals_est : np.ndarray [shape=(n, 2)]
        The vocals output for ``x``.
    x : np.ndarray [shape=(n, 2)]
        Music without vocals.

    Returns
    -------
    float
        ``10 log10(sum(vocals_est^2) / sum(x^2))``; -inf for a silent estimate, nan for
        a silent input.
    """
    e_x = float(np.sum(np.square(x, dtype=np.float64)))
    if e_x == 0.0:
        return float("nan")
    e_v = float(np.sum(np.square(vocals_est, dtype=np.float64)))
    return float(10 * np.log10(e_v / e_x)) if e_v > 0 else float("-inf")


def vocal_leakage(dataset, model_spec: str = "default", *, config=None, batch_size: int = 4,
                  threads: int | None = None,
                  on_track: Callable[[str, float], None] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """How much of vocal-free music a model puts on its vocals output (karaoke keeps
    what it should remove when this is high).

    Each track's music without vocals (an accompaniment track's ``accompaniment``, a
    full track's drums + bass + other) is separated alone and scored with
    :func:`vocal_leakage_db`.

    Parameters
    ----------
    dataset : str | Path
        Track folders, full or accompaniment (:func:`rtsep.io.tracks.list_tracks`
        with ``partial=True``).
    model_spec : str
        A model NAME or PATH.
    config : StreamConfig or dict, optional
        As for :func:`evaluate_dataset`.

    Returns
    -------
    dict
        ``{"model", "dataset", "tracks": {name: dB}, "median_db", "p90_db", "max_db"}``
        (over tracks with a non-silent input).
    """
    from rtsep.engine.offline import separate_array
    from rtsep.io.audio import read_audio
    from rtsep.io.tracks import ACCOMPANIMENT_STEMS, check_track, list_tracks, read_track

    if model_spec == "oracle":
        raise ConfigError("vocal leakage measures a model; the oracle's vocals output is "
                          "silent by construction")
    tracks = list_tracks(dataset, partial=True)
    model, config = _model_and_config(model_spec, config, threads)
    per = {}
    for i, folder in enumerate(tracks):
        files = check_track(folder, partial=True)
        if files.kind == "accompaniment":
            x, _ = read_audio(files.stem_paths[ACCOMPANIMENT_STEMS.index("accompaniment")])
        else:
            tr = read_track(folder)
            x = tr["drums"] + tr["bass"] + tr["other"]
        est = separate_array(model, x, config, batch_size=batch_size)
        per[folder.name] = vocal_leakage_db(est[0], x)
        if on_track is not None:
            on_track(folder.name, per[folder.name])
        if progress is not None:
            progress(i + 1, len(tracks))
    summary = leakage_summary(per.values())
    if summary is None:
        raise DatasetError(f"{dataset}: every track's music is silent")
    return {"model": model_spec, "dataset": str(dataset), "tracks": per, **summary}


def leakage_summary(values) -> dict[str, float] | None:
    """Median, 90th percentile and maximum of vocal leakage figures in dB (NaN ones,
    from silent inputs, left out): ``{"median_db", "p90_db", "max_db"}``, or None when
    none is left."""
    vals = np.array([v for v in values if v == v], np.float64)
    if not vals.size:
        return None
    return {"median_db": float(np.median(vals)), "p90_db": float(np.percentile(vals, 90)),
            "max_db": float(vals.max())}
