"""Vocal leakage measured during training (``rtsep train --val-leakage DIR``): the vocals
output's energy on fixed excerpts of vocal-free music, at every validation.

The stand-in models give known answers: a model that puts half of every bin's estimate
on the vocals gives vocals masks of 0.5, so leakage 20 log10(0.5) = -6.02 dB (0.05 dB
allowed for the signal's edges); a model that routes everything to the drums leaves
only rounding on the vocals (below -100 dB).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

from rtsep.training.excerpts import EXCERPT_SAMPLES, ValidationExcerpt
from rtsep.training.validation import validate_leakage
from stems import synth_stems, write_track  # tests/stems.py
from toy_models import routing_model  # tests/toy_models.py

N = 3 * 44100


def half_on_vocals(mag):
    """Estimates: the input on vocals and on drums, nothing on bass and other."""
    zero = np.zeros_like(mag)
    return np.stack([mag, mag, zero, zero], axis=1).astype(np.float32)


def _excerpts(seed: int = 3):
    rng = np.random.default_rng(seed)
    full = synth_stems(rng, N)
    acc = synth_stems(rng, N)
    return [
        ValidationExcerpt("full", 0, np.stack([full[s] for s in ("vocals", "drums", "bass", "other")])),
        ValidationExcerpt("acc", 0, np.stack([acc["vocals"], acc["drums"] + acc["bass"] + acc["other"]])),
    ]


def test_known_models_give_known_leakage():
    ex = _excerpts()
    half = validate_leakage(half_on_vocals, ex)
    assert half["excerpts"] == 2
    for key in ("median_db", "p90_db", "max_db"):
        assert abs(half[key] - 20 * math.log10(0.5)) < 0.05, half
    none = validate_leakage(routing_model(1), ex)
    assert none["max_db"] < -100, none  # only the masks' rounding on the vocals


def test_the_vocals_are_not_part_of_the_music_measured():
    """Excerpts whose only sound is their vocals have silent music: nothing to measure."""
    rng = np.random.default_rng(4)
    voc = synth_stems(rng, N)["vocals"]
    silent = np.zeros_like(voc)
    ex = [ValidationExcerpt("voc", 0, np.stack([voc, silent, silent, silent])),
          ValidationExcerpt("acc", 0, np.stack([voc, silent]))]
    assert validate_leakage(half_on_vocals, ex) is None


def test_training_logs_leakage_at_every_validation(tmp_path):
    from rtsep.training.checkpoints import RunState, list_checkpoints
    from rtsep.training.config import TrainConfig
    from rtsep.training.loop import train

    rng = np.random.default_rng(6)
    data, music = tmp_path / "data", tmp_path / "music"
    for k in range(3):
        write_track(data / f"full{k}", synth_stems(rng, EXCERPT_SAMPLES + 10_000))
    for k in range(2):
        s = synth_stems(rng, EXCERPT_SAMPLES)
        write_track(music / f"acc{k}", {"vocals": s["vocals"],
                                        "accompaniment": s["drums"] + s["bass"] + s["other"]})
    said = []
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "out"), arch="stream_hybrid", size="tiny",
                      steps=4, batch_size=2, lr=3e-3, warmup_steps=0, val_fraction=0.34,
                      val_every=2, val_excerpts=1, val_seconds=2.0, checkpoint_every=2,
                      log_every=2, loss="psa", val_leakage=str(music), val_leakage_excerpts=2)
    out = train(cfg, log=said.append)
    lines = [m for m in said if "vocal leakage" in m]
    assert [int(re.match(r"step (\d+):", m).group(1)) for m in lines] == [2, 4], said
    figures = [float(re.search(r"median (-?[\d.]+|-inf) dB", m).group(1)) for m in lines]
    assert all(f < 0 for f in figures), lines  # less than the music itself
    # kept with the validation it belongs to, in the checkpoint's history
    step, path = list_checkpoints(out)[-1]
    history = RunState.from_json(json.loads((path / "state.json").read_text())).history
    assert [h["step"] for h in history if "leakage" in h] == [2, 4]
    assert history[-1]["leakage"]["excerpts"] == 2
    assert abs(history[-1]["leakage"]["median_db"] - figures[-1]) < 0.01
