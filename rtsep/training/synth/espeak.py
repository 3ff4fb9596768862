"""The espeak-ng singer's words: spoken once by espeak-ng, cut apart, analysed with WORLD.

For a song whose singer is not a recorded speaker, every word the singer needs is
spoken ONCE by espeak-ng (one call, words separated by pauses,
:func:`speak_words`), cut apart at the pauses (:func:`split_words`) and analysed with
WORLD (:func:`analyse_words`) into the :class:`~rtsep.training.synth.world.WordFrames`
the singer (:mod:`~rtsep.training.synth.vocals`) stretches over the notes: 5 ms
frames at 22,050 Hz, espeak-ng's rate. espeak-ng is deterministic.
"""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
import soxr

from rtsep.errors import RtsepError
from rtsep.training.synth.score import Singer
from rtsep.training.synth.resources import Resources, run_tool
from rtsep.training.synth.world import FRAME_S, WordFrames, analyse, longest_run, runs

VOICE_SR = 22050
"""espeak-ng's sample rate, in Hz: the espeak-ng singer works at it."""
PAUSE_MS = 350


class VocalError(RtsepError):
    """espeak-ng failed or produced unusable audio."""


def speak_words(words: list[str], singer: Singer, resources: Resources, workdir: str) -> np.ndarray:
    """espeak-ng speaks ``words`` separated by pauses.

    Returns
    -------
    np.ndarray, float64 (n,) at 22,050 Hz
    """
    brk = f'<break time="{PAUSE_MS}ms"/>'
    ssml = "<speak>" + brk + brk.join(escape(w) + "." for w in words) + brk + "</speak>"
    path = os.path.join(workdir, "words.wav")
    cmd = [resources.espeak, "-v", singer.voice, "-s", str(singer.speed_wpm), "-p",
           str(singer.espeak_pitch), "-m", "-w", path, ssml]
    run_tool(cmd, path, timeout_s=120, error=VocalError, what=f"espeak-ng (voice {singer.voice!r})")
    x, sr = sf.read(path, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != VOICE_SR:
        x = soxr.resample(x, sr, VOICE_SR)
    return np.ascontiguousarray(x)


def split_words(x: np.ndarray, n_words: int) -> list[tuple[int, int]]:
    """Cut espeak-ng's output at its ``n_words + 1`` longest silences.

    Returns
    -------
    list of (start, end) sample ranges, one per word
    """
    hop = int(VOICE_SR * FRAME_S)
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = db > (db.max() - 55.0)
    # runs of silent frames; leading/trailing silence are runs too; keep the longest
    # n_words-1 inner runs
    inner = [(j - i, i, j) for i, j in runs(~loud) if i > 0 and j < n]
    inner.sort(reverse=True)
    cuts = sorted(inner[: max(0, n_words - 1)], key=lambda r: r[1])
    bounds = []
    first = int(np.argmax(loud))
    last = n - int(np.argmax(loud[::-1]))
    starts = [first] + [c[2] for c in cuts]
    ends = [c[1] for c in cuts] + [last]
    for a, b in zip(starts, ends):
        bounds.append((max(0, a - 2) * hop, min(n, b + 2) * hop))
    if len(bounds) != n_words:
        raise VocalError(f"could not split espeak-ng output into {n_words} words")
    return bounds


def analyse_words(words: list[str], singer: Singer, resources: Resources,
                  workdir: str) -> dict[str, WordFrames]:
    """WORLD analysis of every word (see the module docstring)."""
    x = speak_words(words, singer, resources, workdir)
    bounds = split_words(x, len(words))
    out = {}
    for word, (a, b) in zip(words, bounds):
        seg = np.ascontiguousarray(x[a:b])
        f0, sp, ap = analyse(seg, VOICE_SR, f0_ceil=500.0)
        voiced = f0 > 0
        energy = 10 * np.log10(sp[:, 3:190].sum(axis=1) + 1e-20)  # ~60 Hz..4 kHz
        strong = voiced & (energy > energy.max() - 14.0)
        best = longest_run(strong)
        if best[0] == 0:
            best = (0, int(np.argmax(energy)), int(np.argmax(energy)) + 1)
        # trim quiet frames at the edges
        keep = np.nonzero(energy > energy.max() - 50.0)[0]
        lo, hi = int(keep[0]), int(keep[-1]) + 1
        nuc = (max(best[1], lo) - lo, min(best[2], hi) - lo)
        if nuc[1] <= nuc[0]:
            nuc = (nuc[0], nuc[0] + 1)
        out[word] = WordFrames(sp=sp[lo:hi], ap=ap[lo:hi], voiced=voiced[lo:hi], nucleus=nuc)
    return out
