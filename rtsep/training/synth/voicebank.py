"""Real recorded voices cut into a syllable inventory, for the singer to re-sing.

Speakers come from the Debian voice packages of :mod:`~rtsep.training.synth.sources`:

- ``klettres-data`` — spoken syllables and letters, one speaker set per language;
- ``ktuberling-data`` — spoken words, per language;
- ``fillets-ng-data-cs`` / ``-nl`` — acted dialogue; a speaker is a role (the file
  names say who speaks: ``room-m-…`` the small fish, ``room-v-…`` the big fish, …);
- ``festvox-ru`` — read sentences, one male speaker.

A speaker's register (male or female singing range) comes from the median F0 of its
speech, measured (:func:`speaker_f0`), not from a label.

Syllables are cut from the waveform by energy (:func:`cut_units`): a nucleus is a peak
of the 250-4000 Hz band energy, a boundary the deepest dip between two nuclei or the
edge of the sound. Each chosen unit is analysed with WORLD (:func:`analyse_unit`) into
the :class:`~rtsep.training.synth.world.WordFrames` the singer stretches over a note:
onset consonants, the voiced nucleus (the vowel), coda consonants, breath and all.

Everything is deterministic (WORLD and the cutting are; choices come from the caller's
generator) and cached per process.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import pyworld as pw
import soundfile as sf
import soxr

from rtsep.training.synth import sources
from rtsep.training.synth.world import FRAME_S, WordFrames, analyse, longest_run, runs

MIN_UNIT_S = 0.09
MAX_UNIT_S = 0.7
MIN_FILES = 12
VOICE_PACKAGES = ("klettres-data", "ktuberling-data", "fillets-ng-data-cs", "fillets-ng-data-nl",
                  "festvox-ru")
MALE_F0_HZ = 165.0
"""Speakers whose median speaking F0 is below this sing in the male range."""
MAX_PEAK = 4.0
"""A recording that peaks above this (+12 dBFS) was stored with a wrong gain (klettres'
Setswana speaker ``klettres/tn`` decodes at up to 61, +36 dBFS): :func:`load` scales it
to peak at 1. WORLD assumes full scale is 1: its D4C returns NaN aperiodicities for
such hot input (those units sang NaN and the whole song was written as silence). The
mild overshoot of lossy files of clipped speech (at most 2.2 in the voice packages) is
kept as it is."""


@dataclass(frozen=True)
class Speaker:
    """One recorded voice: ``key`` is ``package/language/role``; ``rate`` the lowest
    sample rate among its files."""

    key: str
    package: str
    files: tuple[str, ...]
    rate: int


def _speaker_key(package: str, path: str) -> str | None:
    parts = path.split("/")
    stem = os.path.splitext(parts[-1])[0]
    if package == "klettres-data":
        return f"klettres/{parts[4]}"
    if package == "ktuberling-data":
        lang = parts[5] if len(parts) > 6 else "en"
        return f"ktuberling/{lang}"
    if package.startswith("fillets-ng-data"):
        lang = parts[-2]
        tokens = stem.split("-")
        if len(tokens) >= 3:
            role = tokens[1]
        elif len(tokens) == 2:
            role = tokens[0]
        else:
            return None
        if not role.isalnum() or role.isdigit():
            return None
        return f"fillets/{lang}/{role}"
    if package == "festvox-ru":
        return "festvox-ru/nsh"
    return None


@functools.lru_cache(maxsize=1)
def speakers() -> tuple[Speaker, ...]:
    """Every installed speaker with at least :data:`MIN_FILES` recordings, sorted by key."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for pkg in VOICE_PACKAGES:
        for path in sources.package_files(pkg):
            if not path.endswith((".ogg", ".wav", ".flac", ".opus")):
                continue
            key = _speaker_key(pkg, path)
            if key:
                groups.setdefault(key, (pkg, []))[1].append(path)
    out = []
    for key in sorted(groups):
        pkg, files = groups[key]
        if len(files) < MIN_FILES or "@" in key:  # sr@latin etc. repeat sr's speaker
            continue
        files = sorted(files)
        rate = min(_rate(f) for f in files[:: max(1, len(files) // 8)])
        if rate < 16000:  # telephone-band recordings are left out
            continue
        out.append(Speaker(key, pkg, tuple(files), rate))
    return tuple(out)


def speaker_by_key(key: str) -> Speaker:
    for s in speakers():
        if s.key == key:
            return s
    raise KeyError(key)


@functools.lru_cache(maxsize=8192)
def _rate(path: str) -> int:
    try:
        return int(sf.info(path).samplerate)
    except (RuntimeError, OSError):
        return 0


@functools.lru_cache(maxsize=256)
def load(path: str, sr: int) -> np.ndarray:
    """A recording as mono float64 at ``sr`` (cached; do not modify).

    A recording peaking above :data:`MAX_PEAK` is scaled to peak at 1 (see there).
    """
    x, fsr = sf.read(path, dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak > MAX_PEAK:
        x = x / peak
    if fsr != sr:
        x = soxr.resample(x, fsr, sr, quality="HQ")
    x = np.ascontiguousarray(x)
    x.setflags(write=False)
    return x


@functools.lru_cache(maxsize=512)
def speaker_f0(key: str) -> float:
    """Median speaking F0 (Hz) of a speaker, from up to 8 of its files (evenly chosen)."""
    spk = speaker_by_key(key)
    picks = spk.files[:: max(1, len(spk.files) // 8)][:8]
    f0s = []
    for path in picks:
        x = load(path, 8000)
        if len(x) < 800:
            continue
        f0, _ = pw.dio(x, 8000, f0_floor=60.0, f0_ceil=500.0, frame_period=10.0)
        f0s.append(f0[f0 > 0])
    voiced = np.concatenate(f0s) if f0s else np.zeros(0)
    return float(np.median(voiced)) if len(voiced) > 20 else 150.0


@functools.lru_cache(maxsize=512)
def speaker_bandwidth_hz(key: str) -> float:
    """Where a speaker's recordings stop: the highest frequency whose long-term level
    (from up to 6 files) is within 70 dB of the peak. Many were recorded narrower than
    they are stored (16 kHz recordings at 44.1 kHz)."""
    spk = speaker_by_key(key)
    sr = voice_rate(spk)
    spec = None
    for path in spk.files[:: max(1, len(spk.files) // 6)][:6]:
        x = load(path, sr)
        n = 2048
        if len(x) < n:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(x, n)[::n // 2] * np.hanning(n)
        p = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)
        spec = p if spec is None else spec + p
    if spec is None:
        return sr / 2
    db = 10 * np.log10(np.convolve(spec, np.ones(9) / 9, mode="same") + 1e-30)
    above = np.nonzero(db > db.max() - 70.0)[0]
    return float(above[-1] * sr / 2048)


def voice_rate(speaker: Speaker) -> int:
    """The rate the singer works at for this speaker: 44.1 kHz when its recordings have
    the bandwidth, else 22,050 Hz."""
    return 44100 if speaker.rate >= 44100 else 22050


# --------------------------------------------------------------------------- cutting

def _band_db(x: np.ndarray, sr: int) -> np.ndarray:
    """250-4000 Hz energy in dB per 5 ms frame (20 ms Hann window)."""
    hop = int(round(sr * FRAME_S))
    win = 4 * hop
    n = max(0, (len(x) - win) // hop + 1)
    if n == 0:
        return np.full(1, -120.0)
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(win)[None, :]
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(win, 1.0 / sr)
    band = spec[:, (freqs >= 250) & (freqs <= 4000)].sum(axis=1)
    return 10 * np.log10(band + 1e-12)


def cut_units(x: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """Syllable-sized spans of a recording (see the module docstring).

    x : float64 (n,) mono at ``sr`` -> list of (start, end) in samples
    """
    db = _band_db(x, sr)
    hop = int(round(sr * FRAME_S))
    k = np.hanning(7)
    sm = np.convolve(db, k / k.sum(), mode="same")
    top = sm.max()
    active = sm > top - 32.0
    units: list[tuple[int, int]] = []
    for i, j in runs(active):
        seg = sm[i:j]
        # nuclei: local maxima with at least 4 dB of dip on each side before the next
        peaks = [p for p in range(1, len(seg) - 1) if seg[p] >= seg[p - 1] and seg[p] > seg[p + 1]
                 and seg[p] > top - 24.0]
        kept: list[int] = []
        for p in peaks:
            if kept and (p - kept[-1] < int(0.09 / FRAME_S)
                         or seg[kept[-1]:p + 1].min() > min(seg[kept[-1]], seg[p]) - 4.0):
                if seg[p] > seg[kept[-1]]:
                    kept[-1] = p
                continue
            kept.append(p)
        bounds = [0] + [kept[m] + int(np.argmin(seg[kept[m]:kept[m + 1]])) for m in range(len(kept) - 1)] + [len(seg)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            dur = (b - a) * FRAME_S
            if MIN_UNIT_S <= dur <= MAX_UNIT_S:
                units.append(((i + a) * hop, min(len(x), (i + b) * hop + 3 * hop)))
    return units


# --------------------------------------------------------------------------- analysis

@dataclass(frozen=True)
class UnitRef:
    """Where a sung syllable comes from: file and span (samples at ``sr``)."""

    path: str
    start: int
    end: int
    sr: int


@functools.lru_cache(maxsize=2048)
def file_units(path: str, sr: int) -> tuple[UnitRef, ...]:
    """The syllable spans of one recording (cached)."""
    return tuple(UnitRef(path, a, b, sr) for a, b in cut_units(load(path, sr), sr))


@functools.lru_cache(maxsize=4096)
def analyse_unit(unit: UnitRef):
    """WORLD analysis of one unit -> :class:`~rtsep.training.synth.world.WordFrames`,
    or None when it has no voiced nucleus (a consonant-only fragment)."""
    x = load(unit.path, unit.sr)
    pad = int(0.01 * unit.sr)
    seg = np.ascontiguousarray(x[max(0, unit.start - pad): min(len(x), unit.end + pad)])
    if len(seg) < int(0.06 * unit.sr):
        return None
    f0, sp, ap = analyse(seg, unit.sr, f0_ceil=600.0)
    voiced = f0 > 0
    freqs = np.arange(sp.shape[1]) * unit.sr / (2 * (sp.shape[1] - 1))
    band = (freqs > 60) & (freqs < 4000)
    energy = 10 * np.log10(sp[:, band].sum(axis=1) + 1e-20)
    strong = voiced & (energy > energy.max() - 15.0)
    best = longest_run(strong)
    if best[0] < 4:  # under 20 ms of vowel: not singable
        return None
    keep = np.nonzero(energy > energy.max() - 45.0)[0]
    lo, hi = int(keep[0]), int(keep[-1]) + 1
    nuc = (max(best[1], lo) - lo, min(best[2], hi) - lo)
    if nuc[1] - nuc[0] < 4:
        return None
    # the recording's own level and pitch are removed: the singer sets both
    norm = 1.0 / max(np.median(sp[lo:hi][nuc[0]:nuc[1], band].sum(axis=1)), 1e-20)
    wf = WordFrames(sp=np.ascontiguousarray(sp[lo:hi] * norm), ap=np.ascontiguousarray(ap[lo:hi]),
                    voiced=voiced[lo:hi].copy(), nucleus=nuc)
    for a in (wf.sp, wf.ap, wf.voiced):
        a.setflags(write=False)
    return wf


def choose_units(speaker: Speaker, n: int, rng: np.random.Generator, *,
                 max_files: int = 14) -> list[tuple[UnitRef, object]]:
    """``n`` distinct singable syllables of ``speaker`` (fewer if it has fewer), from up to
    ``max_files`` of its recordings chosen with ``rng``; from all the others when those
    hold none.

    Returns list of (UnitRef, WordFrames).
    """
    sr = voice_rate(speaker)
    order = rng.permutation(len(speaker.files))
    out = _singable(speaker, order[:max_files], sr, n, rng)
    if not out and len(order) > max_files:
        # Some speakers sing from few of their recordings (ktuberling/gl: 6 of its 197
        # syllables have a voiced nucleus), so the first files can hold none: then the
        # rest are searched too. A speaker that found some in the first files draws
        # exactly what it drew before (songs of an existing seed stay the same).
        out = _singable(speaker, order[max_files:], sr, n, rng, stop_at_pool=False)
    return out


def _singable(speaker: Speaker, files: np.ndarray, sr: int, n: int, rng: np.random.Generator,
              stop_at_pool: bool = True) -> list[tuple[UnitRef, object]]:
    """Up to ``n`` analysable syllables from the recordings ``files`` (indices into
    ``speaker.files``, searched in that order; with ``stop_at_pool`` only until 3 ``n``
    candidate syllables are cut)."""
    pool: list[UnitRef] = []
    for k in files:
        pool.extend(file_units(speaker.files[int(k)], sr))
        if stop_at_pool and len(pool) >= 3 * n:
            break
    out = []
    for k in rng.permutation(len(pool)):
        u = pool[int(k)]
        wf = analyse_unit(u)
        if wf is not None:
            out.append((u, wf))
            if len(out) >= n:
                break
    return out
