"""Does a "instrumental" recording hold a voice? The check behind the accompaniment kind.

``rtsep synth --vocal-check FILE`` scores every installed accompaniment recording by
sampling: a few short excerpts per file (evenly spread) go through a separation model
(the default model unless ``--vocal-check-model``), and an excerpt's score is the
energy of the model's vocals output relative to the excerpt's (dB). A file is excluded
when the median over its excerpts is above ``threshold_db`` or its loudest excerpt is
above ``peak_threshold_db`` (a sung passage in an otherwise instrumental track). The
JSON keeps every score, the thresholds and the model, so a person can look at the
borderline files (their spectrograms) and move them by hand (``"manual"``).

Running the model over all ~17 h would take hours on a CPU; sampling a few excerpts
per file takes minutes.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from rtsep.training.synth import accompaniment

EXCERPTS = 4
EXCERPT_S = 8.0
THRESHOLD_DB = -10.0
PEAK_THRESHOLD_DB = -5.0


def score_file(model, path: str, seconds: float, *, excerpts: int = EXCERPTS,
               excerpt_s: float = EXCERPT_S) -> list[float]:
    """Vocals-output energy relative to the input (dB) for evenly spread excerpts."""
    from rtsep.engine.offline import separate_array  # TensorFlow only through ``model``

    out = []
    usable = max(0.0, seconds - excerpt_s - 2 * accompaniment.EDGE_S)
    for k in range(excerpts):
        start = accompaniment.EDGE_S + usable * (k + 0.5) / excerpts
        x = accompaniment.read_excerpt(path, start, excerpt_s)
        e_mix = float(np.mean(x.astype(np.float64) ** 2))
        if e_mix < 1e-9:
            continue
        est = separate_array(model, x)
        e_voc = float(np.mean(est[0].astype(np.float64) ** 2))
        out.append(round(10 * np.log10(max(e_voc, 1e-12) / e_mix), 2))
    return out


def run_check(out_path: str | os.PathLike, *, model_spec: str = "default",
              threshold_db: float = THRESHOLD_DB, peak_threshold_db: float = PEAK_THRESHOLD_DB,
              excerpts: int = EXCERPTS, progress=None) -> dict:
    """Score every installed accompaniment file and write the JSON (see the module docstring)."""
    from rtsep.runtime import load_model  # the one model loader

    model = load_model(model_spec)
    files = accompaniment.catalogue()
    rows = []
    t0 = time.perf_counter()
    for i, mf in enumerate(files):
        scores = score_file(model, mf.path, mf.seconds, excerpts=excerpts)
        med = float(np.median(scores)) if scores else -99.0
        top = float(np.max(scores)) if scores else -99.0
        rows.append({"path": mf.path, "package": mf.package, "seconds": round(mf.seconds, 1),
                     "scores_db": scores, "median_db": round(med, 2), "max_db": round(top, 2),
                     "excluded": bool(med > threshold_db or top > peak_threshold_db)})
        if progress:
            progress(i + 1, len(files))
    doc = {"model": model_spec, "excerpts_per_file": excerpts, "excerpt_s": EXCERPT_S,
           "threshold_db": threshold_db, "peak_threshold_db": peak_threshold_db,
           "wall_s": round(time.perf_counter() - t0, 1), "manual": {}, "files": rows}
    from rtsep.io.jsonio import write_json_atomic

    write_json_atomic(out_path, doc, indent=1)
    return doc


def excluded(path: str | os.PathLike) -> frozenset[str]:
    """Files a vocal-check JSON excludes (its ``"manual"`` map {path: true/false}
    overrides the measured decision)."""
    doc = json.loads(open(path).read())
    manual = doc.get("manual", {})
    out = set()
    for row in doc.get("files", []):
        flag = manual.get(row["path"], row["excluded"])
        if flag:
            out.add(row["path"])
    out |= {p for p, flag in manual.items() if flag}
    return frozenset(out)
