"""The singer: recorded speech syllables (or espeak-ng words) re-sung to the melody
with the WORLD vocoder (pyworld).

A song with a recorded singer (``Singer.source == "real"``) takes its syllables from
:mod:`~rtsep.training.synth.voicebank` (one recorded speaker, analysed at 44.1 or
22.05 kHz); any other song takes its words from espeak-ng
(:mod:`~rtsep.training.synth.espeak`, 22,050 Hz). Both arrive as
:class:`~rtsep.training.synth.world.WordFrames` (5 ms WORLD frames and the vowel's
range), and both are sung alike (:func:`sing_line`): each sung syllable is
assembled from its word's frames: the onset consonants at natural speed just before
the note, the vowel nucleus stretched over the note, the coda consonants at the
note's end. A new pitch track (the melody with portamento, scoops, delayed vibrato,
drift and jitter), loudness shaping, a formant shift (the singer's size),
breathiness and breaths are applied, and WORLD synthesises the line. The result is
resampled to 44.1 kHz; an espeak-ng line is given a little "air" above 11 kHz, which
espeak-ng's 22 kHz output lacks.

Everything is deterministic: espeak-ng and WORLD are, and all randomness comes
from the song's generator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyworld as pw
import soxr
from scipy import signal

from rtsep.constants import SAMPLE_RATE
from rtsep.training.synth.score import Singer, VocalLine, VocalNote
from rtsep.training.synth.espeak import VOICE_SR, VocalError, analyse_words
from rtsep.training.synth.resources import Resources
from rtsep.training.synth.world import FRAME_S, WordFrames

MAX_ONSET_S = 0.16
MAX_CODA_S = 0.16
GROUP_GAP_S = 0.6
GROUP_MARGIN_S = 1.0
MAX_REAL_UNITS = 18
"""Distinct recorded syllables per song (more tokens reuse them: a song repeats its words)."""


@dataclass
class _Syllable:
    word: str
    start: int  # frame of the note onset (vowel start)
    end: int  # frame of the note end
    loudness: float
    phrase_start: bool


def _syllables(notes: tuple[VocalNote, ...]) -> list[_Syllable]:
    out: list[_Syllable] = []
    for n in notes:
        s = int(round(n.start_s / FRAME_S))
        e = int(round((n.start_s + n.dur_s) / FRAME_S))
        if n.word == "" and out:
            out[-1].end = max(out[-1].end, e)
            continue
        out.append(_Syllable(n.word or "ah", s, max(e, s + 4), n.loudness, n.phrase_start))
    return out


def _vowel_map(n_src: int, n_out: int) -> np.ndarray:
    """Fractional source frames for a vowel of ``n_src`` frames sung over ``n_out``."""
    if n_out <= 0:
        return np.zeros(0)
    if n_out <= n_src or n_src < 4:
        return np.linspace(0, n_src - 1, n_out)
    head = int(0.15 * n_src)
    tail = int(0.5 * n_src)
    mid_out = n_out - head - tail
    return np.concatenate([
        np.arange(head, dtype=np.float64),
        np.linspace(head, n_src - tail, mid_out, endpoint=False),
        np.linspace(n_src - tail, n_src - 1, tail),
    ])


def _interp_frames(arr: np.ndarray, pos: np.ndarray, log: bool) -> np.ndarray:
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, len(arr) - 1)
    w = (pos - i0)[:, None]
    if log:
        return np.exp((1 - w) * np.log(arr[i0]) + w * np.log(arr[i1]))
    return (1 - w) * arr[i0] + w * arr[i1]


def _smooth_noise(rng: np.random.Generator, n: int, period_frames: int) -> np.ndarray:
    """Smooth random curve, unit standard deviation, changing every ~period frames."""
    k = n // period_frames + 3
    knots = rng.normal(0.0, 1.0, k)
    return np.interp(np.arange(n) / period_frames, np.arange(k), knots)


_FLOOR = 1e-12
"""The envelope (power) of a silent frame."""


@dataclass
class _LineFrames:
    """The WORLD parameters of a line being assembled, one row per 5 ms frame.

    Attributes
    ----------
    sp, ap : np.ndarray [shape=(n_frames, n_bins), dtype=float64]
        Envelope (power; :data:`_FLOOR` where silent) and aperiodicity.
    voiced : np.ndarray [shape=(n_frames,), dtype=bool]
    gain_db : np.ndarray [shape=(n_frames,), dtype=float64]
    releases : list of (start, end)
        Frame ranges where a vowel-final word fades out before a rest.
    """

    sp: np.ndarray
    ap: np.ndarray
    voiced: np.ndarray
    gain_db: np.ndarray
    releases: list[tuple[int, int]]

    @classmethod
    def silent(cls, n_frames: int, n_bins: int) -> "_LineFrames":
        return cls(np.full((n_frames, n_bins), _FLOOR), np.ones((n_frames, n_bins)),
                   np.zeros(n_frames, dtype=bool), np.full(n_frames, -60.0), [])

    def put(self, sl: slice, wf: WordFrames, pos: np.ndarray, gain_db, voiced=None) -> None:
        """Frames ``sl`` from ``wf`` at fractional source frames ``pos``; ``voiced``
        None: the source frames' own voicing."""
        self.sp[sl] = _interp_frames(wf.sp, pos, True)
        self.ap[sl] = _interp_frames(wf.ap, pos, False)
        self.voiced[sl] = wf.voiced[np.round(pos).astype(int)] if voiced is None else voiced
        self.gain_db[sl] = gain_db


def _sing_syllable(fr: _LineFrames, syl: _Syllable, nxt: _Syllable | None,
                   words: dict[str, WordFrames], n_frames: int) -> tuple[int, int, int, int]:
    """Write one syllable into ``fr``: its onset consonants at natural speed before the
    note, the vowel stretched over the note, the coda consonants at the note's end.

    Returns
    -------
    (onset start, vowel start, coda end, the word's coda length) in frames
    """
    max_on = int(MAX_ONSET_S / FRAME_S)
    max_co = int(MAX_CODA_S / FRAME_S)
    wf = words[syl.word]
    a, b = wf.nucleus
    on_src, co_src = a, len(wf.sp) - b
    on = min(on_src, max_on)
    co = min(co_src, max_co)
    end = syl.end
    if nxt is not None:
        nwf = words[nxt.word]
        next_on = min(nwf.nucleus[0], max_on)
        limit = nxt.start - next_on
        if end + 0 > limit:  # legato: the next onset takes time from this note
            end = limit
    vowel_min = max(4, int(0.35 * (syl.end - syl.start)))
    if end - co - syl.start < vowel_min:
        co = max(0, end - syl.start - vowel_min)
    v0 = syl.start
    v1 = max(v0 + 2, end - co)
    level_db = 20 * np.log10(syl.loudness)
    # onset
    o0 = max(0, v0 - on)
    if on > 0 and v0 > o0:
        pos = np.linspace(a - on, a - 1e-6, v0 - o0) if on_src else np.zeros(0)
        fr.put(slice(o0, v0), wf, np.clip(pos, 0, len(wf.sp) - 1), level_db)
    # vowel
    v1c = min(v1, n_frames)
    if v1c > v0:
        pos = a + _vowel_map(b - a, v1 - v0)[: v1c - v0]
        t = np.arange(v1c - v0) * FRAME_S
        swell = 1.5 * np.minimum(t / 0.6, 1.0) if (v1 - v0) * FRAME_S > 0.5 else 0.0
        fr.put(slice(v0, v1c), wf, pos, 20 * np.log10(syl.loudness) + swell, voiced=True)
    # coda
    c1 = min(v1 + co, n_frames)
    if co > 0 and c1 > v1:
        pos = np.clip(np.linspace(b, len(wf.sp) - 1, co)[: c1 - v1], 0, len(wf.sp) - 1)
        fr.put(slice(v1, c1), wf, pos, level_db)
    return o0, v0, c1, co_src


def _release(fr: _LineFrames, c1: int, next_onset: int, rng: np.random.Generator) -> None:
    """A vowel-final word ending at frame ``c1`` before a rest fades out instead of
    stopping dead."""
    n_frames = len(fr.voiced)
    rel = min(next_onset - c1 - 2, int(rng.uniform(0.05, 0.14) / FRAME_S), n_frames - c1)
    if rel > 0:
        sl = slice(c1, c1 + rel)
        fr.sp[sl] = fr.sp[c1 - 1]
        fr.ap[sl] = fr.ap[c1 - 1]
        fr.voiced[sl] = True
        fr.gain_db[sl] = fr.gain_db[c1 - 1] - np.linspace(0, 30, rel)
        fr.releases.append((c1, c1 + rel))


def _breath(fr: _LineFrames, wf: WordFrames, o0: int, prev_end: int,
            rng: np.random.Generator) -> None:
    """A breath before a phrase whose first onset is at frame ``o0`` (the previous
    syllable ended at ``prev_end``), coloured by the phrase's first vowel ``wf``."""
    length = int(rng.uniform(0.22, 0.4) / FRAME_S)
    b1 = o0 - int(0.04 / FRAME_S)
    b0 = max(0, b1 - length, prev_end + 10)
    if b1 - b0 > 10:
        n_bins = fr.sp.shape[1]
        a, b = wf.nucleus
        env = np.sin(np.linspace(0, np.pi, b1 - b0)) ** 1.5
        mid = wf.sp[(a + b) // 2]
        tilt = np.linspace(0.3, 3.0, n_bins) ** 2
        level = 10 ** (rng.uniform(-32, -22) / 10)
        fr.sp[b0:b1] = np.maximum(_FLOOR, mid[None, :] * tilt[None, :] * level * env[:, None] ** 2)
        fr.ap[b0:b1] = 1.0
        fr.voiced[b0:b1] = False
        fr.gain_db[b0:b1] = 0.0


def _assemble(line: VocalLine, words: dict[str, WordFrames], n_frames: int,
              rng: np.random.Generator, breaths: bool) -> _LineFrames:
    """The frames of every syllable of ``line``, with releases and breaths."""
    n_bins = next(iter(words.values())).sp.shape[1]
    fr = _LineFrames.silent(n_frames, n_bins)
    sylls = [s for s in _syllables(line.notes) if s.start < n_frames]
    max_on = int(MAX_ONSET_S / FRAME_S)
    for i, syl in enumerate(sylls):
        nxt = sylls[i + 1] if i + 1 < len(sylls) else None
        o0, v0, c1, co_src = _sing_syllable(fr, syl, nxt, words, n_frames)
        next_onset = (nxt.start - min(words[nxt.word].nucleus[0], max_on)) if nxt is not None else n_frames
        if co_src <= 2 and c1 > v0 and next_onset - c1 > 6:
            _release(fr, c1, next_onset, rng)
        prev_end = sylls[i - 1].end if i > 0 else -10_000
        if breaths and syl.phrase_start and o0 - prev_end > int(0.45 / FRAME_S):
            _breath(fr, words[syl.word], o0, prev_end, rng)
    return fr


def _glide(line: VocalLine, singer: Singer, n_frames: int) -> np.ndarray:
    """The melody in cents (relative to MIDI 0) per frame, held through rests and
    smoothed by the singer's portamento."""
    target = np.full(n_frames, np.nan)
    for n in line.notes:
        s = int(round(n.start_s / FRAME_S))
        e = int(round((n.start_s + n.dur_s) / FRAME_S))
        target[max(0, s - 2): max(0, min(e, n_frames))] = 100.0 * n.pitch
    idx = np.where(~np.isnan(target), np.arange(n_frames), 0)
    np.maximum.accumulate(idx, out=idx)
    target = target[idx]
    target[np.isnan(target)] = 100.0 * (line.notes[0].pitch if line.notes else 60)
    port = max(2, int(singer.portamento_s / FRAME_S))
    kernel = np.hanning(port + 2)[1:-1]
    kernel /= kernel.sum()
    shift = int(0.3 * port)
    padded = np.concatenate([np.full(port, target[0]), target, np.full(port, target[-1])])
    return np.convolve(padded, kernel, mode="same")[port - shift: port - shift + n_frames]


def _pitch_cents(line: VocalLine, singer: Singer, fr: _LineFrames,
                 rng: np.random.Generator) -> np.ndarray:
    """The sung pitch in cents per frame: the melody's glide with scoops, delayed
    vibrato (which also moves ``fr.gain_db``), sagging releases, drift and jitter."""
    n_frames = len(fr.voiced)
    cents = _glide(line, singer, n_frames) + line.detune_cents
    t_all = np.arange(n_frames) * FRAME_S
    for n in line.notes:
        s = int(round(n.start_s / FRAME_S))
        e = min(n_frames, int(round((n.start_s + n.dur_s) / FRAME_S)))
        if e <= s:
            continue
        tt = t_all[s:e] - n.start_s
        if n.phrase_start and rng.random() < singer.scoop_prob:
            cents[s:e] -= rng.uniform(40, 160) * np.exp(-tt / rng.uniform(0.03, 0.08))
        if n.dur_s > 0.3:
            rate = singer.vibrato_hz * rng.uniform(0.94, 1.06)
            ramp = np.clip((tt - singer.vibrato_delay_s) / 0.3, 0.0, 1.0)
            depth = singer.vibrato_cents * rng.uniform(0.7, 1.2)
            cents[s:e] += depth * ramp * np.sin(2 * np.pi * rate * tt)
            fr.gain_db[s:e] += 0.8 * ramp * np.sin(2 * np.pi * rate * tt + 0.5)
    for r0, r1 in fr.releases:  # the pitch sags a little as the voice lets go
        cents[r0:r1] -= np.linspace(0.0, rng.uniform(20, 120), r1 - r0)
    cents += singer.drift_cents * _smooth_noise(rng, n_frames, 60)
    cents += 4.0 * _smooth_noise(rng, n_frames, 3)
    return cents


def _hf_tail(singer: Singer, n_bins: int, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """espeak-ng's voices have little above ~4 kHz, real singers do: the voiced
    envelope is extended above ``singer.hf_corner_hz`` with a smooth roll-off,
    half-noisy (recorded voices only where their recording stops short: a corner
    beyond Nyquist leaves them as they are).

    Returns
    -------
    ref_band : bool (n_bins,), the bins whose mean level the tail starts from
    tail_shape : float (n_bins,), the tail's power relative to that level
    tail_ap : float (n_bins,), its aperiodicity ceiling
    """
    freqs = np.arange(n_bins) * sr / (2 * (n_bins - 1))
    corner = singer.hf_corner_hz
    above = freqs > corner - 500.0
    ref_band = (freqs > corner - 1200) & (freqs <= corner)
    tail_db = -singer.hf_slope_db_oct * np.log2(np.maximum(freqs, corner) / corner)
    for hz, bump_db, width in singer.hf_bumps:  # the singer's own high formants
        tail_db = tail_db + bump_db * np.exp(-0.5 * ((freqs - hz) / width) ** 2)
    fade_in = np.clip((freqs - (corner - 500.0)) / 1000.0, 0.0, 1.0)  # no edge at the corner
    tail_shape = 10 ** (tail_db / 10) * fade_in
    tail_ap = np.where(above, singer.hf_aperiodicity + (1 - singer.hf_aperiodicity) * np.clip((freqs - corner) / 8000, 0, 1), 1)
    return ref_band, tail_shape, tail_ap


def _shift_formants(sp: np.ndarray, ap: np.ndarray, alpha: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Envelope and aperiodicity (n, n_bins) with frequencies scaled by ``alpha`` (n,)
    (the envelope interpolated in the log domain)."""
    n_bins = sp.shape[1]
    lsp = np.log(sp)
    src = np.arange(n_bins)[None, :] / alpha[:, None]
    i0 = np.clip(np.floor(src).astype(np.int64), 0, n_bins - 1)
    i1 = np.clip(i0 + 1, 0, n_bins - 1)
    w = np.clip(src - np.floor(src), 0.0, 1.0)
    rsp = np.exp((1 - w) * np.take_along_axis(lsp, i0, 1) + w * np.take_along_axis(lsp, i1, 1))
    rap = ((1 - w) * np.take_along_axis(ap, i0, 1) + w * np.take_along_axis(ap, i1, 1))
    return rsp, rap


def _synthesise(fr: _LineFrames, f0: np.ndarray, alpha: np.ndarray, singer: Singer,
                sr: int) -> np.ndarray:
    """WORLD synthesis of the frames, region by sung region, with the formant shift
    ``alpha`` (per frame), the high-frequency tail, breathiness and the loudness."""
    n_frames, n_bins = fr.sp.shape
    breath = singer.breathiness * np.linspace(0.2, 1.0, n_bins) ** 0.5
    gain = 10 ** (signal.lfilter([0.3], [1, -0.7], fr.gain_db) / 10.0)  # power gain, smoothed
    hop = sr * FRAME_S  # 110.25 samples per frame at 22,050 Hz
    y = np.zeros(int(np.ceil(n_frames * hop)) + 1)
    ref_band, tail_shape, tail_ap = _hf_tail(singer, n_bins, sr)
    for r0, r1 in _regions((fr.sp > _FLOOR * 10).any(axis=1), pad=20, bridge=100):
        rsp, rap = _shift_formants(fr.sp[r0:r1], fr.ap[r0:r1], alpha[r0:r1])
        v = fr.voiced[r0:r1]
        if singer.hf_corner_hz < sr / 2:
            tail = rsp[:, ref_band].mean(axis=1, keepdims=True) * tail_shape[None, :]
            use_tail = v[:, None] & (tail > rsp)
            rsp = np.where(use_tail, tail, rsp)
            rap = np.where(use_tail, np.minimum(rap, tail_ap[None, :]), rap)
        rap = np.where(v[:, None], rap + (1.0 - rap) * breath[None, :], rap)
        rsp = np.maximum(rsp * gain[r0:r1, None], _FLOOR)
        seg = pw.synthesize(np.ascontiguousarray(f0[r0:r1]), np.ascontiguousarray(rsp),
                            np.ascontiguousarray(np.clip(rap, 0.0, 1.0)), sr, FRAME_S * 1000)
        a = int(round(r0 * hop))
        b = min(len(y), a + len(seg))
        y[a:b] += seg[: b - a]
    return y


def sing_line(line: VocalLine, singer: Singer, words: dict[str, WordFrames],
              n_frames: int, rng: np.random.Generator, *, breaths: bool,
              sr: int = VOICE_SR) -> np.ndarray:
    """Synthesise one vocal line at ``sr`` (the rate ``words`` were analysed at).

    The syllables' frames are assembled (:func:`_assemble`), given the sung pitch
    (:func:`_pitch_cents`) and a slowly drifting formant shift (the singer's vocal
    tract length, so held vowels are not frozen), and synthesised by WORLD
    (:func:`_synthesise`).

    Returns
    -------
    np.ndarray, float64 (about n_frames * sr * 0.005,) at ``sr``
    """
    fr = _assemble(line, words, n_frames, rng, breaths)
    cents = _pitch_cents(line, singer, fr, rng)
    f0 = np.where(fr.voiced, 440.0 * 2 ** ((cents / 100.0 - 69.0) / 12.0), 0.0)
    alpha = (singer.formant_shift + line.formant_offset) * (1.0 + 0.012 * _smooth_noise(rng, n_frames, 40))
    return _synthesise(fr, f0, alpha, singer, sr)


def _regions(active: np.ndarray, *, pad: int, bridge: int) -> list[tuple[int, int]]:
    """Frame ranges covering ``active`` (padded; gaps shorter than ``bridge`` merged)."""
    idx = np.nonzero(active)[0]
    if len(idx) == 0:
        return []
    out = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - prev > bridge:
            out.append((max(0, start - pad), min(len(active), prev + 1 + pad)))
            start = i
        prev = i
    out.append((max(0, start - pad), min(len(active), prev + 1 + pad)))
    return out


def add_air(y: np.ndarray, y22: np.ndarray, rng: np.random.Generator, level_db: float) -> np.ndarray:
    """Noise above ~10.5 kHz that follows the 4-10 kHz envelope (sibilants, breath).

    y : float (n,) at 44.1 kHz; y22 : the same line at 22,050 Hz -> float32 (n,)
    """
    sos_band = signal.butter(2, [4000, 10000], btype="bandpass", fs=VOICE_SR, output="sos")
    sos_env = signal.butter(1, 40, fs=VOICE_SR, output="sos")
    env22 = signal.sosfilt(sos_env, np.abs(signal.sosfilt(sos_band, y22)))
    env = np.interp(np.arange(len(y)) * (VOICE_SR / SAMPLE_RATE), np.arange(len(env22)), env22)
    spec = np.fft.rfft(rng.standard_normal(len(y)) * env)
    freqs = np.fft.rfftfreq(len(y), 1.0 / SAMPLE_RATE)
    spec *= np.clip((freqs - 9500.0) / 2000.0, 0.0, 1.0)
    air = np.fft.irfft(spec, len(y))
    return (y + 10 ** (level_db / 20) * 3.0 * air).astype(np.float32)


def _phrase_groups(notes: tuple[VocalNote, ...], gap_s: float) -> list[list[VocalNote]]:
    """Split a line where it rests for at least ``gap_s`` seconds."""
    groups: list[list[VocalNote]] = []
    end = -1e9
    for nt in notes:
        if not groups or nt.start_s - end >= gap_s:
            groups.append([])
        groups[-1].append(nt)
        end = max(end, nt.start_s + nt.dur_s)
    return groups


class NoSingableSyllableError(VocalError):
    """A recorded speaker has no syllable with a voiced nucleus in any of its recordings:
    the song cannot sing with it (the track fails; the run goes on)."""

    stems = ("vocals",)


def real_words(order: list[str], singer: Singer, rng: np.random.Generator,
               used: set | None = None) -> dict[str, WordFrames]:
    """Each lyric token sung by a real syllable of the singer's recorded speaker.

    The tokens only mark which notes share a syllable (a chorus repeats its words);
    the syllables themselves are the speaker's own, in the speaker's language.
    Files read are added to ``used``.
    """
    from rtsep.training.synth import voicebank

    spk = voicebank.speaker_by_key(singer.speaker)
    units = voicebank.choose_units(spk, min(len(order), MAX_REAL_UNITS), rng)
    if not units:
        raise NoSingableSyllableError(f"no singable syllable found in the recordings of {spk.key}")
    words = {}
    for k, tok in enumerate(order):
        ref, wf = units[k % len(units)]
        words[tok] = wf
        if used is not None:
            used.add(ref.path)
    return words


def render_vocals(lines: tuple[VocalLine, ...], singer: Singer, seconds: float,
                  resources: Resources, workdir: str,
                  rng: np.random.Generator, used: set | None = None) -> dict[str, np.ndarray]:
    """Sing every line (espeak-ng words, or a recorded speaker's syllables when
    ``singer.source == "real"``). Recordings read are added to ``used``.

    Returns
    -------
    dict line name -> float32 (n_samples,) mono at 44.1 kHz
    """
    n = int(round(seconds * SAMPLE_RATE))
    used_lines = [ln for ln in lines if ln.notes]
    if not used_lines:
        return {}
    order: list[str] = []
    for ln in used_lines:
        for note in ln.notes:
            w = note.word or "ah"
            if w not in order:
                order.append(w)
    if "ah" not in order:
        order.append("ah")
    if singer.source == "real":
        words = real_words(order, singer, rng, used)
        sr = singer.voice_sr
    else:
        words = analyse_words(order, singer, resources, workdir)
        sr = VOICE_SR
    block = sr // 50  # 4 frames of 5 ms: a whole number of samples at 22,050 and 44,100 Hz
    n_sr = int(np.ceil(seconds * sr)) + 1
    out = {}
    for ln in used_lines:
        # sing phrase groups separately: memory stays bounded by the longest group
        y = np.zeros(n_sr)
        for group in _phrase_groups(ln.notes, GROUP_GAP_S):
            f_off = int(max(0.0, group[0].start_s - GROUP_MARGIN_S) / FRAME_S) // 4 * 4
            t_off = f_off * FRAME_S  # a multiple of 4 frames = ``block`` samples exactly
            t_end = min(seconds, group[-1].start_s + group[-1].dur_s + GROUP_MARGIN_S)
            if t_end <= t_off:
                continue
            sub = replace(ln, notes=tuple(nt._replace(start_s=nt.start_s - t_off) for nt in group))
            seg = sing_line(sub, singer, words, int(np.ceil((t_end - t_off) / FRAME_S)) + 1, rng,
                            breaths=singer.breaths and ln.name == "lead", sr=sr)
            a = f_off // 4 * block
            b = min(n_sr, a + len(seg))
            y[a:b] += seg[: b - a]
        y44 = y if sr == SAMPLE_RATE else soxr.resample(y, sr, SAMPLE_RATE, quality="HQ")
        y44 = np.asarray(y44[:n], dtype=np.float64)
        if len(y44) < n:
            y44 = np.pad(y44, (0, n - len(y44)))
        level_db = float(rng.uniform(-24, -12))
        if ln.name == "lead" and sr == VOICE_SR:  # nothing above 11 kHz yet: add the air
            out[ln.name] = add_air(y44, y, rng, level_db)
        else:
            out[ln.name] = y44.astype(np.float32)
    return out
