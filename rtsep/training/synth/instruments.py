"""Recorded instruments and responses: real guitar strums, amp/cabinet impulse
responses, a real hall, and sung choir vowels.

- Strums: ``hydrogen-drumkits-effects`` (belofilms acoustic-guitar strums, 96 kHz): a
  chord (root, major/minor/m7b5), a direction (down, up, plain) and 4 velocity layers
  per file. A strum part plays the song's chords with the nearest recorded chord of the
  same quality, re-pitched by resampling (at most ±3 semitones, as a sampler would).
- Responses: ``guitarix-common`` — 20 amp/cabinet responses (``amps/``), 70 guitar-tone
  responses (``bands/``), and ``greathall.wav`` (a real hall, used as a shared reverb).
- ``ambi_choir`` (``sonic-pi-samples``): a real choir's sung vowel, re-pitched.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from rtsep.constants import SAMPLE_RATE
from rtsep.training.synth import sources

STRUM_PACKAGE = "hydrogen-drumkits-effects"
IR_PACKAGE = "guitarix-common"
_ROOTS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Strum:
    path: str
    root: int  # pitch class
    quality: str  # "major", "minor", "m7b5"
    direction: str  # "down", "up", "plain"
    layer: int  # 0 loudest .. 3 softest


def _parse_strum(path: str) -> Strum | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    m = re.match(r"([A-G])(sharp |flat |)\s*(major|minor7b5|minro7b5|minor)(?:_(DOWN|UP|Down))?_?(\d\d)",
                 stem.replace("wav", ""))
    if not m:
        return None
    root = (_ROOTS[m.group(1)] + (1 if m.group(2).startswith("sharp") else
                                  -1 if m.group(2).startswith("flat") else 0)) % 12
    quality = {"major": "major", "minor": "minor"}.get(m.group(3), "m7b5")
    direction = {"DOWN": "down", "Down": "down", "UP": "up"}.get(m.group(4) or "", "plain")
    return Strum(path, root, quality, direction, min(3, int(m.group(5))))


@functools.lru_cache(maxsize=1)
def strums() -> tuple[Strum, ...]:
    """Installed real guitar strums (empty if the package is missing)."""
    out = [s for f in sources.package_files(STRUM_PACKAGE) if f.endswith(".flac")
           for s in [_parse_strum(f)] if s is not None]
    return tuple(sorted(out, key=lambda s: s.path))


def chord_quality(intervals: tuple[int, ...]) -> str:
    """major, minor or m7b5 for a chord's intervals above its root."""
    if 3 in intervals and 6 in intervals:
        return "m7b5"
    if 3 in intervals:
        return "minor"
    return "major"


def pick_strum(root: int, quality: str, direction: str, velocity: int,
               rng: np.random.Generator) -> tuple[Strum, float] | None:
    """The recorded strum for a chord and the resampling rate that moves it there."""
    bank = strums()
    if not bank:
        return None
    same = [s for s in bank if s.quality == quality] or [s for s in bank if s.quality == "major"]
    dist = lambda s: ((root - s.root + 6) % 12) - 6  # noqa: E731  semitones to move, -6..5
    best = min(abs(dist(s)) for s in same)
    near = [s for s in same if abs(dist(s)) == best]
    want_layer = int(np.clip(round((127 - velocity) / 127 * 4 - 0.5), 0, 3))
    by_dir = [s for s in near if s.direction == direction] or near
    fit = [s for s in by_dir if abs(s.layer - want_layer) <= 1] or by_dir
    s = fit[int(rng.integers(len(fit)))]
    return s, float(2.0 ** (dist(s) / 12.0))


@functools.lru_cache(maxsize=256)
def load_resampled(path: str, rate: float) -> np.ndarray:
    """A recording as float32 (n, 2) at 44.1 kHz, played ``rate`` times faster (cached)."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
    x = soxr.resample(x, sr * rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    x = np.ascontiguousarray(x)
    x.setflags(write=False)
    return x


def render_strums(events: list[tuple[float, int, str, str, int]], n_samples: int,
                  rng: np.random.Generator, used: set | None = None) -> np.ndarray:
    """Real strums: events (time_s, root pitch class, quality, direction, velocity).

    Each strum rings until the next one starts (a 25 ms fade), as a guitarist's hand
    stops the strings. Returns float32 (n_samples, 2).
    """
    out = np.zeros((n_samples, 2), dtype=np.float32)
    events = sorted(events)
    for k, (t, root, quality, direction, vel) in enumerate(events):
        pick = pick_strum(root, quality, direction, vel, rng)
        if pick is None:
            break
        s, rate = pick
        x = load_resampled(s.path, round(rate, 5))
        if used is not None:
            used.add(s.path)
        a = int(round(t * SAMPLE_RATE))
        if a >= n_samples:
            continue
        nxt = events[k + 1][0] if k + 1 < len(events) else None
        length = min(len(x), n_samples - a)
        if nxt is not None:
            length = min(length, int(round((nxt - t) * SAMPLE_RATE)) + int(0.025 * SAMPLE_RATE))
        seg = x[:length] * np.float32((0.5 + 0.5 * vel / 127.0))
        fade = min(int(0.025 * SAMPLE_RATE), length)
        seg[length - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        out[a:a + length] += seg
    return out


# --------------------------------------------------------------------------- responses

@functools.lru_cache(maxsize=1)
def impulse_responses() -> dict[str, tuple[str, ...]]:
    """Installed guitarix responses: {"amps": (...), "bands": (...), "hall": (...)}."""
    files = sources.package_files(IR_PACKAGE)
    return {"amps": tuple(f for f in files if "/sounds/amps/" in f),
            "bands": tuple(f for f in files if "/sounds/bands/" in f),
            "hall": tuple(f for f in files if f.endswith("/greathall.wav"))}


@functools.lru_cache(maxsize=128)
def load_ir(path: str) -> np.ndarray:
    """An impulse response as float32 (m, 2) at 44.1 kHz, unit energy per channel."""
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
    if sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE, quality="HQ")
    x = x / (np.sqrt(np.sum(x ** 2, axis=0, keepdims=True)) + 1e-12)
    x = np.ascontiguousarray(x, dtype=np.float32)
    x.setflags(write=False)
    return x


def convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """x (n, 2) through ir (m, 2) -> (n, 2) float32 (the tail past n is dropped)."""
    out = np.empty_like(x)
    for ch in range(2):
        out[:, ch] = signal.oaconvolve(x[:, ch], ir[:, ch], mode="full")[: len(x)]
    return out


def ambi_choir_path() -> str | None:
    """sonic-pi's ambi_choir recording, if installed."""
    return next((f for f in sources.package_files("sonic-pi-samples")
                 if f.endswith("/ambi_choir.flac")), None)


AMBI_CHOIR_PITCH = 57
"""MIDI pitch of sonic-pi's ambi_choir as recorded (A3, measured)."""


def render_pitched_sample(path: str, base_pitch: int, notes, n_samples: int,
                          used: set | None = None) -> np.ndarray:
    """A recorded one-shot played as a sampler would on notes (start_s, dur_s, pitch,
    velocity): resampled to pitch, cut at the note's end with a 60 ms release.
    Returns float32 (n_samples, 2)."""
    out = np.zeros((n_samples, 2), dtype=np.float32)
    for nt in notes:
        rate = float(2.0 ** ((nt.pitch - base_pitch) / 12.0))
        x = load_resampled(path, round(rate, 5))
        if used is not None:
            used.add(path)
        a = int(round(nt.start_s * SAMPLE_RATE))
        if a >= n_samples:
            continue
        length = min(len(x), n_samples - a, int((nt.dur_s + 0.06) * SAMPLE_RATE))
        seg = x[:length] * np.float32(nt.velocity / 127.0)
        att = min(int(0.04 * SAMPLE_RATE), length)
        seg[:att] *= np.linspace(0.0, 1.0, att, dtype=np.float32)[:, None]
        rel = min(int(0.06 * SAMPLE_RATE), length)
        seg[length - rel:] *= np.linspace(1.0, 0.0, rel, dtype=np.float32)[:, None]
        out[a:a + length] += seg
    return out
