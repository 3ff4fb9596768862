"""The vocal part of a composition: who sings (:func:`choose_singer`) and what
(:func:`vocal_lines`).

The singer is a recorded speaker (:mod:`~rtsep.training.synth.voicebank`, most songs)
or an espeak-ng voice, with singing habits of its own (vibrato, portamento, scoops,
breathiness, the high-frequency extension of its voice). The lines are the lead
melody with its lyrics (a chorus repeats its words), chorus doubles and sustained
backing vowels on the chord tones. No audio here: :mod:`~rtsep.training.synth.vocals`
sings them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rtsep.training.synth import lyrics, parts
from rtsep.training.synth.parts import Harmony
from rtsep.training.synth.score import Section, Singer, VocalLine, VocalNote
from rtsep.training.synth.theory import Grid

# Voices espeak-ng sings with: (voice, gender). Variants are espeak-ng's own
# formant sets; the renderer shifts formants further per song.
SINGER_VOICES: tuple[tuple[str, str], ...] = (
    ("en-us+m1", "m"), ("en-us+m2", "m"), ("en-us+m3", "m"), ("en+m4", "m"), ("en+m7", "m"),
    ("en-gb-x-rp+m3", "m"), ("en-029+m2", "m"), ("en-us+klatt", "m"), ("en+klatt2", "m"),
    ("en-us+klatt3", "m"), ("en-us-nyc+m1", "m"), ("en-gb-scotland+m5", "m"),
    ("en-us+f1", "f"), ("en-us+f2", "f"), ("en-us+f3", "f"), ("en+f4", "f"), ("en+f5", "f"),
    ("en-us+Annie", "f"), ("en-us+linda", "f"), ("en+steph", "f"), ("en-gb-x-rp+f2", "f"),
    ("en-us+anika", "f"), ("en-us+belinda", "f"), ("en-029+f3", "f"),
)



REAL_VOICE_P = 0.85
"""Share of songs sung by a recorded speaker (where voice packages are installed); the
rest by espeak-ng."""


def choose_singer(rng: np.random.Generator, *, recorded: bool = True) -> Singer:
    """The song's singer: a recorded speaker (share :data:`REAL_VOICE_P`, where voice
    packages are installed and ``recorded``) or an espeak-ng voice, with its singing
    habits."""
    from rtsep.training.synth import voicebank  # reads the installed voice packages once

    speakers = voicebank.speakers() if recorded else ()
    real = bool(speakers) and rng.random() < REAL_VOICE_P
    if real:
        # big speakers (hundreds of lines) are chosen more often, never overwhelmingly
        w = np.sqrt(np.array([len(s.files) for s in speakers], dtype=np.float64))
        spk = speakers[int(rng.choice(len(speakers), p=w / w.sum()))]
        f0 = voicebank.speaker_f0(spk.key)
        gender = "m" if f0 < voicebank.MALE_F0_HZ else "f"
        voice, sr = spk.key, voicebank.voice_rate(spk)
    else:
        voice, gender = SINGER_VOICES[int(rng.integers(len(SINGER_VOICES)))]
        f0, sr = 0.0, 22050
    formant = (rng.uniform(0.92, 1.06) if gender == "m" else rng.uniform(1.0, 1.14)) if not real \
        else rng.uniform(0.94, 1.06)
    # a recorded voice band-limited below 11 kHz (16 kHz festvox) is extended above
    # its edge; wider ones keep their own highs (a corner above Nyquist is a no-op)
    corner = rng.uniform(3300, 4500) if not real else 1e9
    if real:  # stored at 44.1 kHz but recorded narrower: extend above the measured edge
        edge = voicebank.speaker_bandwidth_hz(spk.key)
        if edge < 0.42 * sr:
            corner = max(3500.0, edge - 800.0)
    return Singer(
        voice=voice, gender=gender,
        formant_shift=float(formant),
        vibrato_hz=float(rng.uniform(4.6, 6.6)),
        vibrato_cents=float(rng.uniform(15, 70)),
        vibrato_delay_s=float(rng.uniform(0.12, 0.35)),
        portamento_s=float(rng.uniform(0.03, 0.12)),
        scoop_prob=float(rng.uniform(0.0, 0.5)),
        breathiness=float(rng.uniform(0.0, 0.45) if not real else rng.uniform(0.0, 0.25)),
        drift_cents=float(rng.uniform(4, 18)),
        speed_wpm=int(rng.integers(110, 160)),
        espeak_pitch=int(rng.integers(30, 70)),
        breaths=bool(rng.random() < 0.8),
        hf_corner_hz=float(corner),
        hf_slope_db_oct=float(rng.uniform(9, 20)),
        hf_aperiodicity=float(rng.uniform(0.15, 0.7)),
        hf_bumps=tuple((float(rng.uniform(4500, 10000)), float(rng.uniform(-3, 7)),
                        float(rng.uniform(400, 1500))) for _ in range(3)),
        source="real" if real else "espeak", speaker=spk.key if real else "",
        voice_sr=int(sr), speech_f0_hz=float(f0),
    )


@dataclass(frozen=True)
class _Singing:
    """How a song's singer sings it, drawn once per song (:func:`_singing`)."""

    low: int  # MIDI range of the lead
    high: int
    center: float  # the range's centre, a little low
    unit: int  # the melody's shortest note, in grid steps
    phrase_bars: int
    vocab: list[str]
    density: float
    doubles: bool  # the chorus sung twice
    backing: bool  # backing vowels in the chorus
    backing_vowel: str


def _singing(rng: np.random.Generator, singer: Singer, grid: Grid) -> _Singing:
    lo, hi = (47, 69) if singer.gender == "m" else (55, 77)
    shift = int(rng.integers(-3, 4))
    if singer.speech_f0_hz > 0:  # a recorded speaker: centre the range near its own voice
        ref = 115.0 if singer.gender == "m" else 210.0
        shift = int(np.clip(round(12 * np.log2(singer.speech_f0_hz / ref)) + rng.integers(-2, 3), -4, 4))
    lo, hi = lo + shift, hi + shift
    if grid.tempo_bpm > 140:
        unit = int(rng.choice([2, 4], p=[0.6, 0.4]))
    elif grid.tempo_bpm < 95:
        unit = int(rng.choice([1, 2], p=[0.35, 0.65]))
    else:
        unit = 2
    vocab = lyrics.song_vocabulary(rng, int(rng.integers(16, 40)))
    density = float(rng.uniform(0.3, 0.9))
    doubles = rng.random() < 0.45
    has_backing = rng.random() < 0.55
    backing_vowel = lyrics.BACKING_VOWELS[int(rng.integers(len(lyrics.BACKING_VOWELS)))]
    return _Singing(lo, hi, (lo + hi) / 2 - 1.5, unit, 2 if grid.bar_s < 2.6 else 1, vocab, density,
                    doubles, has_backing, backing_vowel)


def _section_kind(name: str) -> str:
    """The melody a section sings: "chorus", "bridge" or "verse"."""
    return "chorus" if name in ("chorus", "outro") else ("bridge" if name in ("bridge", "pre", "break") else "verse")


def _template(rng: np.random.Generator, sung: _Singing, harmony: Harmony, s: Section,
              kind: str) -> list[parts.MelodyNote]:
    """A new melody for sections of this kind and length, its steps relative to the
    section start: later sections of the same kind have the same chords
    (progressions restart at section starts)."""
    center = sung.center + {"verse": 0.0, "chorus": float(rng.uniform(1.5, 4.0)),
                            "bridge": float(rng.uniform(-1.0, 3.0))}[kind]
    first = parts.melody(
        rng, harmony, s.start_bar, s.n_bars, low=sung.low, high=sung.high, center=center,
        unit=sung.unit, phrase_bars=sung.phrase_bars, rest_beats=(1, 4), density=sung.density)
    return [replace(m, step=m.step - s.start_bar * harmony.grid.steps_per_bar) for m in first]


def _lyrics(rng: np.random.Generator, line: list[parts.MelodyNote], vocab: list[str]) -> list[str]:
    """One word per note, a lyric line per phrase."""
    words: list[str] = []
    phrase: list[int] = []
    for i, m in enumerate(line):
        if m.phrase_start and phrase:
            words += lyrics.lyric_line(rng, len(phrase), vocab)
            phrase = []
        phrase.append(i)
    if phrase:
        words += lyrics.lyric_line(rng, len(phrase), vocab)
    return words


def _sung_notes(rng: np.random.Generator, line: list[parts.MelodyNote], words: list[str],
                s: Section, grid: Grid, timing_sd: float, end_s: float) -> list[VocalNote]:
    """The melody ``line`` sung in section ``s``: loosely timed, legato within a phrase,
    now and then a slur (a melisma) between near notes."""
    offset = s.start_bar * grid.steps_per_bar
    loud = 0.75 + 0.12 * s.intensity
    notes: list[VocalNote] = []
    for i, m in enumerate(line):
        step = m.step + offset
        t0 = max(0.0, grid.time(0, step) + float(rng.normal(0.0, timing_sd * 2.0)))
        nxt_start = line[i + 1].step + offset if i + 1 < len(line) else None
        legato_next = nxt_start is not None and not line[i + 1].phrase_start and abs(nxt_start - (m.step + m.length + offset)) < 0.5
        t1 = grid.time(0, step + m.length) - (0.0 if legato_next else float(rng.uniform(0.02, 0.12)))
        if t0 >= end_s:
            continue
        word = words[i] if i < len(words) else "la"
        slur = (not m.phrase_start and i > 0 and abs(m.pitch - line[i - 1].pitch) <= 2
                and rng.random() < 0.08)
        notes.append(VocalNote(t0, max(0.08, t1 - t0), m.pitch, "" if slur else word,
                               float(np.clip(loud + rng.normal(0, 0.06), 0.4, 1.0)), m.phrase_start))
    return notes


def _backing_notes(rng: np.random.Generator, harmony: Harmony, s: Section, center: float,
                   vowel: str, end_s: float) -> list[list[VocalNote]]:
    """Two backing voices (high, low) holding a chord tone on ``vowel`` per chord of ``s``."""
    grid = harmony.grid
    out: list[list[VocalNote]] = [[], []]
    for v, (lo_b, hi_b) in enumerate(((center + 3, center + 9), (center - 4, center + 2))):
        for k, (b0, b1, chord) in enumerate(harmony.slots(s.start_bar, s.start_bar + s.n_bars)):
            t0 = grid.time(b0)
            t1 = min(grid.time(b1) - 0.05, end_s)
            if t1 - t0 < 0.25:
                continue
            tones = [p for p in range(int(lo_b), int(hi_b) + 1) if p % 12 in chord.pitch_classes]
            if not tones:
                continue
            pitch = tones[len(tones) // 2] if v == 0 else tones[0]
            out[v].append(VocalNote(t0, t1 - t0, int(pitch), vowel if k == 0 or rng.random() < 0.3 else "",
                                    0.7, k == 0))
    return out


def _lines(rng: np.random.Generator, lead: list[VocalNote], double_notes: list[VocalNote],
           backing: list[list[VocalNote]]) -> list[VocalLine]:
    """The lead, the double and the backing voices as lines with their pan and level."""
    lines = [VocalLine("lead", tuple(lead), pan=float(rng.uniform(-0.08, 0.08)), gain_db=0.0)]
    if double_notes:
        lines.append(VocalLine("double", tuple(double_notes), pan=float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.7)),
                               gain_db=float(rng.uniform(-10, -5)), detune_cents=float(rng.uniform(-12, 12)),
                               formant_offset=float(rng.uniform(-0.03, 0.03))))
    for v, notes in enumerate(backing):
        if notes:
            lines.append(VocalLine(f"backing{v}", tuple(notes), pan=(-1) ** v * float(rng.uniform(0.4, 0.9)),
                                   gain_db=float(rng.uniform(-14, -7)), detune_cents=float(rng.uniform(-8, 8)),
                                   formant_offset=float(rng.uniform(-0.05, 0.05))))
    return lines


def vocal_lines(rng: np.random.Generator, singer: Singer, harmony: Harmony,
                sections: list[Section], timing_sd: float, end_s: float) -> list[VocalLine]:
    """The sung lines of a song: the lead in every section where the vocals play (one
    melody per kind and length of section, a chorus repeating its words), and in the
    chorus maybe a double and two backing voices.

    Returns
    -------
    list of VocalLine: "lead", then "double", "backing0", "backing1" where sung
    """
    sung = _singing(rng, singer, harmony.grid)
    templates: dict[tuple[str, int], list[parts.MelodyNote]] = {}
    chorus_words: dict[int, list[str]] = {}
    lead: list[VocalNote] = []
    backing: list[list[VocalNote]] = [[], []]
    double_notes: list[VocalNote] = []
    for s in sections:
        if "vocals" not in s.stems:
            continue
        kind = _section_kind(s.name)
        key = (kind, s.n_bars)
        if key not in templates:
            templates[key] = _template(rng, sung, harmony, s, kind)
        line = templates[key]
        if kind == "chorus" and s.n_bars in chorus_words:
            words = chorus_words[s.n_bars]
        else:
            words = _lyrics(rng, line, sung.vocab)
            if kind == "chorus":
                chorus_words[s.n_bars] = words
        section_notes = _sung_notes(rng, line, words, s, harmony.grid, timing_sd, end_s)
        lead += section_notes
        if sung.doubles and kind == "chorus":
            double_notes += [n._replace(start_s=n.start_s + float(rng.normal(0.0, 0.012))) for n in section_notes]
        if sung.backing and kind == "chorus":
            for v, notes in enumerate(_backing_notes(rng, harmony, s, sung.center, sung.backing_vowel, end_s)):
                backing[v] += notes
    return _lines(rng, lead, double_notes, backing)
