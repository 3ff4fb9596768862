"""Recorded drums: sonic-pi one-shots and loops placed on the song's drum hits.

Samples are decoded once per process (:func:`load_sample` is cached); every
rendering function is deterministic.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import soundfile as sf
import soxr

from rtsep.constants import SAMPLE_RATE
from rtsep.training.synth import grooves
from rtsep.training.synth.resources import MissingToolError, find_resources


@functools.lru_cache(maxsize=1)
def _samples_dir() -> str:
    return find_resources().samples_dir


@functools.lru_cache(maxsize=512)
def load_sample(name: str, rate: float = 1.0) -> np.ndarray:
    """A sonic-pi sample as float32 (n, 2) at 44.1 kHz, played at ``rate``.

    ``rate`` > 1 plays it faster and higher (resampling, like a sampler).
    Cached per process; the returned array must not be modified.
    """
    path = os.path.join(_samples_dir(), f"{name}.flac")
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise MissingToolError(f"cannot read the sonic-pi sample {path}: {exc}; "
                               "reinstall the Debian package 'sonic-pi-samples'") from exc
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    x = x[:, :2]
    eff_in = sr * rate
    if abs(eff_in - SAMPLE_RATE) > 1e-6:
        x = soxr.resample(x, eff_in, SAMPLE_RATE, quality="HQ").astype(np.float32)
    x = np.ascontiguousarray(x)
    x.setflags(write=False)
    return x


@functools.lru_cache(maxsize=512)
def _peak(name: str, rate: float) -> float:
    return max(float(np.abs(load_sample(name, rate)).max()), 1e-6)


@functools.lru_cache(maxsize=1)
def loop_durations() -> dict[str, float]:
    """Length in seconds of every known loop that is installed."""
    out = {}
    for name in grooves.LOOPS:
        path = os.path.join(_samples_dir(), f"{name}.flac")
        if os.path.exists(path):
            info = sf.info(path)
            out[name] = info.frames / info.samplerate
    return out


def _pan_gains(pan: float) -> np.ndarray:
    """Constant-power pan law: pan -1 (left) .. 1 (right) -> gains (2,)."""
    angle = (pan + 1.0) * np.pi / 4.0
    return np.array([np.cos(angle), np.sin(angle)], dtype=np.float32) * np.float32(np.sqrt(2.0))


def sample_path(name: str) -> str:
    """The file of a sonic-pi sample."""
    return os.path.join(_samples_dir(), f"{name}.flac")


def render_sampled_drums(kit: grooves.Kit, hits: tuple[grooves.DrumHit, ...],
                         n_samples: int, used: set | None = None) -> np.ndarray:
    """The hits played by sampled voices of ``kit`` (files read are added to ``used``).

    Returns
    -------
    np.ndarray, float32 (n_samples, 2)
    """
    out = np.zeros((n_samples, 2), dtype=np.float32)
    hat_times = np.array([h.time_s for h in hits if h.voice in ("chh", "phh")])
    for h in hits:
        kv = kit.voices[h.voice]
        if kv.source != "sample":
            continue
        name = kv.sample
        if h.velocity < 70 and name in grooves.SOFT_VARIANTS:
            name = grooves.SOFT_VARIANTS[name]
        x = load_sample(name, round(kv.rate, 4))
        if used is not None:
            used.add(sample_path(name))
        start = int(round(h.time_s * SAMPLE_RATE))
        if start >= n_samples:
            continue
        length = min(len(x), n_samples - start)
        if h.voice == "ohh" and len(hat_times):  # a closed hat chokes the open one
            later = hat_times[hat_times > h.time_s + 0.01]
            if len(later):
                length = min(length, int(round((later[0] - h.time_s) * SAMPLE_RATE)) + 441)
        peak = _peak(kv.sample, round(kv.rate, 4))  # soft variants keep their own level
        gain = (grooves.SAMPLE_PEAK[h.voice] / peak * (h.velocity / 100.0) ** 1.5
                * 10.0 ** (kv.gain_db / 20.0))
        seg = x[:length] * (_pan_gains(kv.pan) * np.float32(gain))
        if length < len(x):  # fade out what is cut
            fade = min(441, length)
            seg[length - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        out[start:start + length] += seg
    return out


def render_loop(loop: grooves.LoopLayer, spans: tuple[tuple[int, int], ...], bar_start_s,
                beats_per_bar: int, beat_s: float, n_samples: int,
                used: set | None = None) -> np.ndarray:
    """A loop repeated over the given (start_bar, n_bars) spans.

    ``bar_start_s(bar)`` gives the start time of a bar in seconds.

    Returns
    -------
    np.ndarray, float32 (n_samples, 2)
    """
    out = np.zeros((n_samples, 2), dtype=np.float32)
    if not spans:
        return out
    x = load_sample(loop.sample, round(loop.rate, 4))
    if used is not None:
        used.add(sample_path(loop.sample))
    gain = np.float32(10.0 ** (loop.gain_db / 20.0))
    loop_s = loop.beats * beat_s
    for start_bar, n_bars in spans:
        t = bar_start_s(start_bar)
        t_end = bar_start_s(start_bar + n_bars)
        while t < t_end - 1e-3:
            a = int(round(t * SAMPLE_RATE))
            b = min(int(round(min(t + loop_s, t_end) * SAMPLE_RATE)), n_samples, a + len(x))
            if a >= n_samples or b <= a:
                break
            seg = x[: b - a] * gain
            fade = min(220, b - a)
            seg[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
            out[a:b] += seg
            t += loop_s
    return out
