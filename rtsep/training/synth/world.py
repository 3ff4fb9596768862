"""WORLD analysis of spoken syllables: the frames the singer stretches over a note.

A spoken word or syllable (espeak-ng's, :mod:`~rtsep.training.synth.espeak`, or a
recorded speaker's, :mod:`~rtsep.training.synth.voicebank`) is analysed with the WORLD
vocoder (pyworld) into a spectral envelope, an aperiodicity and a voicing track, one
row per :data:`FRAME_S` frame, and a *nucleus*: the frame range of its vowel
(:class:`WordFrames`). Everything here is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld as pw

FRAME_S = 0.005
"""WORLD frame period, in seconds (5 ms)."""


@dataclass
class WordFrames:
    """WORLD analysis of one spoken word.

    Attributes
    ----------
    sp, ap : np.ndarray [shape=(n_frames, n_bins), dtype=float64]
        Envelope (power) and aperiodicity.
    voiced : np.ndarray [shape=(n_frames,), dtype=bool]
    nucleus : tuple of int
        ``(start, end)`` frame range of the vowel.
    """

    sp: np.ndarray
    ap: np.ndarray
    voiced: np.ndarray
    nucleus: tuple[int, int]


def analyse(x: np.ndarray, sr: int, *, f0_ceil: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD analysis of a mono signal at :data:`FRAME_S` frames (F0 from 60 Hz to ``f0_ceil``).

    Parameters
    ----------
    x : np.ndarray [shape=(n,), dtype=float64], C-contiguous
    sr : int
        Its sample rate in Hz.

    Returns
    -------
    f0 : np.ndarray [shape=(n_frames,)]
        Hz, 0 where unvoiced.
    sp, ap : np.ndarray [shape=(n_frames, n_bins)]
        Spectral envelope (power) and aperiodicity.
    """
    f0, t = pw.dio(x, sr, f0_floor=60.0, f0_ceil=f0_ceil, frame_period=FRAME_S * 1000)
    f0 = pw.stonemask(x, f0, t, sr)
    sp = pw.cheaptrick(x, f0, t, sr)
    ap = pw.d4c(x, f0, t, sr)
    return f0, sp, ap


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in ``mask``, in order.

    Parameters
    ----------
    mask : np.ndarray [shape=(n,), dtype=bool]

    Returns
    -------
    list of (start, end)
        Index ranges ``[start, end)`` where ``mask`` is True throughout, maximal.
    """
    edges = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    flips = np.flatnonzero(edges[1:] != edges[:-1])
    return [(int(a), int(b)) for a, b in zip(flips[::2], flips[1::2])]


def longest_run(mask: np.ndarray) -> tuple[int, int, int]:
    """The longest run of True in ``mask`` (the first of equal ones).

    Returns
    -------
    (length, start, end) : tuple of int
        ``(0, 0, 0)`` when ``mask`` has no True.
    """
    best = (0, 0, 0)
    for a, b in runs(mask):
        if b - a > best[0]:
            best = (b - a, a, b)
    return best
