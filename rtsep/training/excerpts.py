"""Excerpts of a track's files and their spectra at the model's bins and frames.

Nothing is loaded whole: :func:`read_excerpt` reads only the samples asked for with
soundfile's ``seek``/``read``, so a dataset may be far larger than memory.

An excerpt of :data:`EXCERPT_SAMPLES` = 191 * 1024 + 4096 = 199,680 samples gives
exactly :data:`~rtsep.constants.MODEL_FRAMES` = 192 STFT frames with no padding.
Its magnitudes (:func:`excerpt_magnitudes`) are computed by
:func:`rtsep.model_magnitudes` and equal the engine's magnitudes of the whole file at
the corresponding frames: an excerpt starting at sample ``s`` (a multiple of the hop)
holds file frames ``s // HOP + 3 ... s // HOP + 194``.

Validation uses fixed, unaugmented excerpts held in memory
(:func:`validation_excerpts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from rtsep.constants import HOP, MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_FFT, SAMPLE_RATE
from rtsep.dsp.stft import stft, to_model_layout
from rtsep.errors import ConfigError, DatasetError
from rtsep.training.tracks import Track

EXCERPT_SAMPLES = (MODEL_FRAMES - 1) * HOP + N_FFT
"""Samples of one training excerpt: 191 * 1024 + 4096 = 199,680 (192 full frames)."""

FRAME_OFFSET = N_FFT // HOP - 1
""":func:`rtsep.model_magnitudes` of an excerpt starts with this many frames that
reach before the excerpt (zero-padded); frame ``FRAME_OFFSET + k`` is the excerpt's
``k``-th full frame."""


def read_excerpt(path: str | Path, start: int, n_samples: int) -> np.ndarray:
    """Samples ``[start, start + n_samples)`` of a file, zeros where it has none.

    Reads only those samples (seek + read). Mono is duplicated to both channels.

    Returns
    -------
    np.ndarray [shape=(n_samples, 2), dtype=float32]
    """
    out = np.zeros((n_samples, N_CHANNELS), dtype=np.float32)
    lo = max(0, int(start))
    hi = int(start) + n_samples
    try:
        with sf.SoundFile(str(path)) as f:
            hi = min(hi, f.frames)
            if hi <= lo:
                return out
            f.seek(lo)
            data = f.read(hi - lo, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DatasetError(f"{path}: cannot read samples {lo}..{hi} ({exc})") from None
    got = data.shape[0]
    dst = lo - int(start)
    out[dst:dst + got] = data if data.shape[1] == N_CHANNELS else data[:, :1]
    return out


def excerpt_spectra(x: np.ndarray) -> np.ndarray:
    """The complex STFT of one excerpt at the model's bins and frames.

    Parameters
    ----------
    x : np.ndarray [shape=(EXCERPT_SAMPLES, 2), dtype=float32]

    Returns
    -------
    np.ndarray [shape=(MODEL_BINS, MODEL_FRAMES, 2), dtype=complex64]
        Its magnitude is :func:`excerpt_magnitudes` of ``x``.
    """
    if x.shape != (EXCERPT_SAMPLES, N_CHANNELS):
        raise ValueError(f"expected an excerpt of shape {(EXCERPT_SAMPLES, N_CHANNELS)}, got {x.shape}")
    spec = stft(np.asarray(x, dtype=np.float32))          # (C, F, N_BINS)
    spec = spec[:, FRAME_OFFSET:FRAME_OFFSET + MODEL_FRAMES, :MODEL_BINS]
    return to_model_layout(spec).astype(np.complex64)


def excerpt_magnitudes(x: np.ndarray) -> np.ndarray:
    """The model-input magnitudes of one excerpt (its 192 full frames).

    Parameters
    ----------
    x : np.ndarray [shape=(EXCERPT_SAMPLES, 2), dtype=float32]

    Returns
    -------
    np.ndarray [shape=(MODEL_BINS, MODEL_FRAMES, 2), dtype=float32]
        Frames ``FRAME_OFFSET .. FRAME_OFFSET + 191`` of
        ``rtsep.dsp.stft.model_magnitudes(x)``: the engine's magnitudes of these samples.
    """
    return np.abs(excerpt_spectra(x))


# ----------------------------------------------------------------------------------
# Validation excerpts
# ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ValidationExcerpt:
    """A fixed excerpt of a validation track, held in memory.

    Attributes
    ----------
    track : str
        The track name.
    start : int
        First sample in the track.
    stems : np.ndarray [shape=(4, n, 2), dtype=float32]
        The stems in STEMS order (no augmentation).
    """

    track: str
    start: int
    stems: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        """The sum of the stems: np.ndarray [shape=(n, 2), dtype=float32]."""
        return self.stems.sum(axis=0, dtype=np.float32)


def validation_excerpts(tracks: list[Track], *, n_excerpts: int = 4, seconds: float = 10.0
                        ) -> list[ValidationExcerpt]:
    """Up to ``n_excerpts`` fixed excerpts of ``seconds`` each, spread over ``tracks``.

    Deterministic: excerpt ``k`` comes from track ``k % len(tracks)``; the excerpts of
    one track are spaced evenly through it (the middle for a single one). A track
    shorter than ``seconds`` is taken whole. Fewer excerpts than asked are returned
    when there are fewer tracks*positions than that (never the same excerpt twice).
    """
    if not tracks or n_excerpts <= 0:
        return []
    if seconds <= 0:
        raise ConfigError(f"validation excerpt length must be > 0 s, got {seconds}")
    want = int(round(seconds * SAMPLE_RATE))
    per_track: dict[int, int] = {}
    for k in range(n_excerpts):
        per_track[k % len(tracks)] = per_track.get(k % len(tracks), 0) + 1
    out = []
    for ti, count in sorted(per_track.items()):
        t = tracks[ti]
        n = min(want, t.n_samples)
        room = t.n_samples - n
        count = 1 if room == 0 else count
        for c in range(count):
            start = int(room * (c + 1) / (count + 1)) if room > 0 else 0
            start = min(room, start)
            stems = np.stack([read_excerpt(p, start, n) for p in t.stem_paths])
            out.append(ValidationExcerpt(track=t.name, start=start, stems=stems))
    return out


__all__ = ["EXCERPT_SAMPLES", "FRAME_OFFSET", "read_excerpt", "excerpt_spectra",
           "excerpt_magnitudes", "ValidationExcerpt", "validation_excerpts"]
