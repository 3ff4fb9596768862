"""Song composition: style, tempo, key, form, harmony, parts, melody and mix settings.

:func:`compose_song` turns ``(seed, index, seconds)`` into a :class:`Song`: every
note, drum hit and sung word with its time in seconds, plus the settings the
renderers and the mixer use. It is pure and cheap (no audio), so a dataset's
manifest can be rebuilt without rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from rtsep.constants import STEMS
from rtsep.training.synth import grooves, lyrics, parts
from rtsep.training.synth.parts import Harmony, Note
from rtsep.training.synth.styles import GM_NAMES, ROLE_INSTRUMENTS, STYLES, Style
from rtsep.training.synth.theory import NOTE_NAMES, PROGRESSIONS, Chord, Grid, diatonic_chord

MIN_SECONDS = 2.0
MAX_SECONDS = 600.0

HARMONIC_ROLES = ("comp", "strum", "power", "pad", "skank")

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


class VocalNote(NamedTuple):
    """A sung note: seconds, MIDI pitch, the word (``""`` continues the previous
    word's vowel: a melisma), loudness 0..1, and whether a phrase starts here."""

    start_s: float
    dur_s: float
    pitch: int
    word: str
    loudness: float
    phrase_start: bool


@dataclass(frozen=True)
class Section:
    """A span of bars with the stems that play in it (the others rest)."""

    name: str
    start_bar: int
    n_bars: int
    stems: tuple[str, ...]
    intensity: int


@dataclass(frozen=True)
class PartFx:
    """Insert effects of one instrument part (0 disables a value)."""

    hpf_hz: float = 0.0
    lpf_hz: float = 0.0
    drive_db: float = 0.0
    chorus: float = 0.0
    delay_s: float = 0.0
    delay_mix: float = 0.0
    comp_ratio: float = 1.0
    tilt_db: float = 0.0
    haas_s: float = 0.0
    ir: str = ""  # a recorded amp/cabinet or guitar-tone response (guitarix)
    ir_mix: float = 1.0  # 1: through the response only; less: in parallel with the dry part


@dataclass(frozen=True)
class Part:
    """One General MIDI part (bass, an accompaniment part, or the GM drums)."""

    name: str
    stem: str
    role: str
    program: int
    notes: tuple[Note, ...]
    pedal: tuple[tuple[float, int], ...] = ()
    modwheel: bool = False
    pan: float = 0.0
    gain_db: float = 0.0
    fx: PartFx = PartFx()
    source: str = "gm"  # "gm" (FluidSynth), "strums" (real guitar strums), "avl" (AVL kit),
    # "ambi_choir" (sonic-pi's sung vowel); GM choir parts are "gm" in the vocals stem


@dataclass(frozen=True)
class Singer:
    """Who sings and how: espeak-ng voice, formant shift, vibrato, etc."""

    voice: str
    gender: str
    formant_shift: float
    vibrato_hz: float
    vibrato_cents: float
    vibrato_delay_s: float
    portamento_s: float
    scoop_prob: float
    breathiness: float
    drift_cents: float
    speed_wpm: int
    espeak_pitch: int
    breaths: bool
    hf_corner_hz: float
    hf_slope_db_oct: float
    hf_aperiodicity: float
    hf_bumps: tuple[tuple[float, float, float], ...]
    source: str = "espeak"  # "espeak" or "real" (a recorded speaker's syllables)
    speaker: str = ""  # voicebank key of the recorded speaker
    voice_sr: int = 22050  # the rate the singer is analysed and synthesised at
    speech_f0_hz: float = 0.0  # the speaker's median speaking pitch (measured)


@dataclass(frozen=True)
class VocalLine:
    """One sung line: the lead, a double, or a backing voice."""

    name: str
    notes: tuple[VocalNote, ...]
    pan: float
    gain_db: float
    detune_cents: float = 0.0
    shift_s: float = 0.0
    formant_offset: float = 0.0


@dataclass(frozen=True)
class MixSettings:
    """Levels, space and master processing of a song."""

    stem_gain_db: dict[str, float]
    reverb_rt60_s: float
    reverb_predelay_s: float
    reverb_send_db: dict[str, float]
    vocal_delay_s: float
    vocal_delay_mix: float
    master_threshold_db: float
    master_ratio: float
    master_release_s: float
    limiter_db: float
    peak_dbfs: float
    reverb_kind: str = "convolution"
    hall_kind: str = "none"  # a second shared reverb: "greathall" (recorded), "plate", "none"
    hall_send_db: dict[str, float] = field(default_factory=dict)
    sidechain_db: float = 0.0  # bass and other duck under the kick by this much
    sidechain_release_s: float = 0.15
    other_width: float = 1.0  # stereo width of the other stem (mid/side)


@dataclass(frozen=True)
class Song:
    """Everything needed to render one song (see the module docstring)."""

    seed: int
    index: int
    seconds: float
    style: str
    grid: Grid
    key_root: int
    mode: str
    sections: tuple[Section, ...]
    harmony: Harmony
    progressions: dict[str, str]
    groove: str
    kit: grooves.Kit
    drum_hits: tuple[grooves.DrumHit, ...]
    loop_bars: tuple[tuple[int, int], ...]
    parts: tuple[Part, ...]
    singer: Singer
    vocal_lines: tuple[VocalLine, ...]
    mix: MixSettings
    extra: dict = field(default_factory=dict)
    gm_font: str = "fluidr3"  # "fluidr3" or "musescore" (the General MIDI soundfont)
    real_kit: str = ""  # "hydrogen:<kit>", "avl:<sf2 path>" or "" (GM / sonic-pi drums)
    kit_choice: tuple[tuple[str, int], ...] = ()  # voice -> instrument index in the kit

    @property
    def name(self) -> str:
        return song_name(self.seed, self.index)

    @property
    def n_samples(self) -> int:
        return int(round(self.seconds * 44100))

    def section_times(self) -> list[tuple[str, float, float, tuple[str, ...]]]:
        """(name, start_s, end_s, active stems) per section, clipped to the song."""
        out = []
        for s in self.sections:
            t0 = self.grid.time(s.start_bar)
            t1 = min(self.grid.time(s.start_bar + s.n_bars), self.seconds)
            if t0 < self.seconds:
                out.append((s.name, t0, t1, s.stems))
        return out

    def manifest(self) -> dict:
        """A JSON-able description of the song's parameters."""
        r = lambda v, n=3: round(float(v), n)  # noqa: E731
        return {
            "name": self.name,
            "seed": self.seed,
            "index": self.index,
            "seconds": self.seconds,
            "style": self.style,
            "tempo_bpm": r(self.grid.tempo_bpm, 2),
            "beats_per_bar": self.grid.beats_per_bar,
            "swing": r(self.grid.swing),
            "key": f"{NOTE_NAMES[self.key_root]} {self.mode}",
            "progressions": self.progressions,
            "form": [
                {"section": n, "start_s": r(a), "end_s": r(b), "stems": list(st)}
                for n, a, b, st in self.section_times()
            ],
            "drums": {"groove": self.groove, **self.kit.to_dict(), "real_kit": self.real_kit,
                      "hits": len(self.drum_hits)},
            "gm_font": self.gm_font,
            "parts": [
                {"name": p.name, "stem": p.stem, "role": p.role, "program": p.program,
                 "instrument": GM_NAMES.get(p.program, f"program {p.program}") if p.stem != "drums"
                 else f"GM drum kit {p.program}", "notes": len(p.notes), "pan": r(p.pan, 2),
                 "gain_db": r(p.gain_db, 2), "drive_db": r(p.fx.drive_db, 1), "source": p.source,
                 "ir": p.fx.ir}
                for p in self.parts
            ],
            "vocals": {
                "singer": {k: (r(v) if isinstance(v, float) else
                               [[r(x, 1) for x in b] for b in v] if k == "hf_bumps" else v)
                           for k, v in self.singer.__dict__.items()},
                "lines": [{"name": ln.name, "notes": len(ln.notes), "pan": r(ln.pan, 2),
                           "gain_db": r(ln.gain_db, 2)} for ln in self.vocal_lines],
                "words": sorted({n.word for ln in self.vocal_lines for n in ln.notes if n.word}),
            },
            "mix": {
                "stem_gain_db": {k: r(v, 2) for k, v in self.mix.stem_gain_db.items()},
                "reverb_rt60_s": r(self.mix.reverb_rt60_s),
                "reverb_send_db": {k: r(v, 2) for k, v in self.mix.reverb_send_db.items()},
                "master_ratio": r(self.mix.master_ratio, 2),
                "master_threshold_db": r(self.mix.master_threshold_db, 2),
                "limiter_db": r(self.mix.limiter_db, 2),
                "reverb_kind": self.mix.reverb_kind,
                "hall_kind": self.mix.hall_kind,
                "hall_send_db": {k: r(v, 2) for k, v in self.mix.hall_send_db.items()},
                "sidechain_db": r(self.mix.sidechain_db, 2),
                "other_width": r(self.mix.other_width, 2),
                "peak_dbfs": r(self.mix.peak_dbfs, 2),
            },
        }


def song_name(seed: int, index: int) -> str:
    """Folder name of song ``index`` of a run with ``seed``."""
    return f"synth-{seed}-{index:05d}"


# --------------------------------------------------------------------------- form

SECTION_STEMS_P = {  # probability that each stem plays in a section of this kind
    "intro": {"vocals": 0.0, "drums": 0.5, "bass": 0.55, "other": 1.0},
    "verse": {"vocals": 1.0, "drums": 0.9, "bass": 0.9, "other": 0.95},
    "pre": {"vocals": 1.0, "drums": 0.8, "bass": 1.0, "other": 1.0},
    "chorus": {"vocals": 1.0, "drums": 1.0, "bass": 1.0, "other": 1.0},
    "bridge": {"vocals": 1.0, "drums": 0.5, "bass": 0.7, "other": 1.0},
    "solo": {"vocals": 0.0, "drums": 1.0, "bass": 1.0, "other": 1.0},
    "outro": {"vocals": 0.3, "drums": 0.6, "bass": 0.7, "other": 1.0},
}
INTENSITY = {"intro": 0, "verse": 1, "pre": 1, "chorus": 2, "break": 1, "bridge": 1,
             "solo": 2, "outro": 1}


def _form(rng: np.random.Generator, total_bars: int) -> list[tuple[str, int]]:
    """Section names and lengths (bars) covering at least ``total_bars``."""
    unit = 4 if total_bars >= 20 else (2 if total_bars >= 6 else 1)
    out: list[tuple[str, int]] = []
    if rng.random() < 0.75:
        out.append(("intro", unit // 2 if unit == 4 and rng.random() < 0.5 else unit))
    n_chorus = 0
    while sum(n for _, n in out) < total_bars:
        out.append(("verse", 2 * unit))
        if unit >= 2 and rng.random() < 0.25:
            out.append(("pre", unit))
        out.append(("chorus", 2 * unit))
        n_chorus += 1
        r = rng.random()
        if r < 0.5:
            out.append(("break", unit))
        elif r < 0.65 and n_chorus >= 1:
            out.append(("bridge", 2 * unit))
        elif r < 0.8:
            out.append(("solo", 2 * unit))
    return out


def _section_stems(rng: np.random.Generator, name: str) -> tuple[str, ...]:
    if name == "break":
        kind = rng.choice(["drop", "nodrums", "nobass", "solo"], p=[0.25, 0.3, 0.15, 0.3])
        stems = {"drop": ("drums", "bass"), "nodrums": ("bass", "other"),
                 "nobass": ("drums", "other"), "solo": ("drums", "bass", "other")}[str(kind)]
        if rng.random() < 0.15:
            stems = ("vocals",) + stems
        return tuple(s for s in STEMS if s in stems)
    probs = SECTION_STEMS_P[name]
    return tuple(s for s in STEMS if rng.random() < probs[s])


# --------------------------------------------------------------------------- harmony

def _progression_chords(rng: np.random.Generator, style: Style, key_root: int, mode: str,
                        degrees: tuple[int, ...]) -> list[Chord]:
    p7 = {"jazz": 0.85, "funk": 0.5, "hiphop": 0.4, "reggae": 0.2}.get(style.name, 0.15)
    chords = []
    for d in degrees:
        r = rng.random()
        color = "sus4" if r < 0.05 else ("sus2" if r < 0.09 else ("add9" if r < 0.14 else ""))
        chords.append(diatonic_chord(key_root, mode, d, seventh=rng.random() < p7, color=color))
    return chords


def _harmony(rng: np.random.Generator, style: Style, grid: Grid, key_root: int, mode: str,
             form: list[tuple[str, int]]) -> tuple[Harmony, dict[str, str]]:
    pool = PROGRESSIONS[mode]
    kinds = {}
    for name in ("verse", "chorus", "bridge"):
        degrees = pool[int(rng.integers(len(pool)))]
        kinds[name] = _progression_chords(rng, style, key_root, mode, degrees)
    if rng.random() < 0.3:
        kinds["chorus"] = kinds["verse"]
    kinds["pre"] = kinds["bridge"]
    r = rng.random()
    if r < 0.25 and grid.bar_s >= 1.9:
        chord_bars = 0.5
    elif r < 0.45 and grid.bar_s <= 2.2:
        chord_bars = 2.0
    else:
        chord_bars = 1.0
    starts: list[float] = []
    chords: list[Chord] = []
    bar = 0
    for name, n_bars in form:
        prog = kinds.get(name, kinds["verse"] if name != "chorus" else kinds["chorus"])
        if name in ("intro", "break", "solo", "outro"):
            prog = kinds["chorus"] if (name == "solo" or rng.random() < 0.5) else kinds["verse"]
        t = 0.0
        k = 0
        while t < n_bars - 1e-9:
            starts.append(bar + t)
            chords.append(prog[k % len(prog)])
            k += 1
            t += chord_bars
        bar += n_bars
    names = {k: " ".join(c.name() for c in v) for k, v in kinds.items() if k != "pre"}
    harmony = Harmony(grid=grid, key_root=key_root, mode=mode, starts=tuple(starts), chords=tuple(chords))
    return harmony, names


# --------------------------------------------------------------------------- parts

ROLE_PLAYS = {  # probability that a part with this role plays in a section of this kind
    "lead": {"intro": 0.7, "verse": 0.08, "pre": 0.1, "chorus": 0.25, "break": 0.8, "bridge": 0.2,
             "solo": 1.0, "outro": 0.7},
    "pad": {"intro": 0.6, "verse": 0.5, "pre": 0.8, "chorus": 0.9, "break": 0.5, "bridge": 0.8,
            "solo": 0.5, "outro": 0.8},
    "arp": {"intro": 0.7, "verse": 0.6, "pre": 0.6, "chorus": 0.7, "break": 0.6, "bridge": 0.5,
            "solo": 0.4, "outro": 0.6},
    "stabs": {"intro": 0.4, "verse": 0.4, "pre": 0.6, "chorus": 0.8, "break": 0.5, "bridge": 0.4,
              "solo": 0.6, "outro": 0.5},
}
HARMONIC_PLAYS = 0.85

LEAD_RANGES = {65: (53, 79), 66: (46, 72), 64: (60, 84), 56: (55, 79), 59: (55, 77), 73: (67, 91),
               71: (52, 79), 68: (60, 82), 40: (60, 86), 110: (60, 84), 22: (60, 84), 75: (65, 89),
               29: (52, 76), 30: (52, 76), 84: (55, 79), 80: (60, 84), 81: (57, 81), 87: (55, 79),
               57: (43, 67), 42: (43, 67), 18: (55, 79), 62: (55, 79)}

CENTERS = {"comp": (58, 67), "strum": (55, 60), "power": (45, 50), "arp": (62, 72), "pad": (57, 65),
           "stabs": (60, 68), "skank": (62, 68)}


def _part_fx(rng: np.random.Generator, style: Style, role: str, program: int) -> PartFx:
    drive = 0.0
    guitar = program in (24, 25, 26, 27, 28, 29, 30)
    if program in (29, 30) or (role == "power"):
        drive = float(rng.uniform(12, 30))
    elif program in (27, 26, 18) and rng.random() < style.distortion * 0.6:
        drive = float(rng.uniform(8, 24))
    return PartFx(
        hpf_hz=float(rng.uniform(60, 220)) if rng.random() < 0.6 else 0.0,
        lpf_hz=float(rng.uniform(5000, 12000)) if (drive or rng.random() < 0.2) else 0.0,
        drive_db=drive,
        chorus=float(rng.uniform(0.2, 0.6)) if program in (4, 5, 27, 26, 89, 90, 16) and rng.random() < 0.4 else 0.0,
        delay_s=float(rng.choice([0.375, 0.5, 0.75, 0.25])) if role in ("lead", "arp") and rng.random() < 0.4 else 0.0,
        delay_mix=float(rng.uniform(0.1, 0.3)),
        comp_ratio=float(rng.uniform(1.5, 4.0)) if rng.random() < 0.6 else 1.0,
        tilt_db=float(rng.uniform(-4, 4)),
        haas_s=float(rng.uniform(0.008, 0.022)) if (guitar or role == "pad") and rng.random() < 0.45 else 0.0,
    )


def _other_parts(rng: np.random.Generator, style: Style, harmony: Harmony,
                 sections: list[Section], timing_sd: float, end_s: float) -> list[Part]:
    n_parts = int(rng.integers(2, 5))
    roles = list(style.roles)
    rng.shuffle(roles)
    chosen = roles[:n_parts]
    if not any(r in HARMONIC_ROLES for r in chosen):
        harmonic = [r for r in style.roles if r in HARMONIC_ROLES] or ["comp"]
        chosen[0] = harmonic[int(rng.integers(len(harmonic)))]
    # who plays where
    other_sections = [s for s in sections if "other" in s.stems]
    plays: dict[int, list[Section]] = {k: [] for k in range(len(chosen))}
    for s in other_sections:
        active = []
        for k, role in enumerate(chosen):
            p = ROLE_PLAYS[role][s.name] if role in ROLE_PLAYS else HARMONIC_PLAYS
            if s.name == "break" and "vocals" not in s.stems and role == "lead":
                p = 0.9
            if rng.random() < p:
                active.append(k)
        if not any(chosen[k] in HARMONIC_ROLES for k in active):
            harm = [k for k, r in enumerate(chosen) if r in HARMONIC_ROLES]
            active.append(harm[int(rng.integers(len(harm)))])
        for k in active:
            plays[k].append(s)
    out = []
    for k, role in enumerate(chosen):
        pool = style.instruments.get(role, ROLE_INSTRUMENTS[role])
        program = int(pool[int(rng.integers(len(pool)))])
        spans = [(s.start_bar, s.n_bars, s.intensity) for s in plays[k]]
        pedal: list[tuple[float, int]] = []
        if role == "lead":
            lo, hi = LEAD_RANGES.get(program, (55, 79))
            notes: list[Note] = []
            unit = 2 if harmony.grid.tempo_bpm > 100 else int(rng.choice([1, 2]))
            for s in plays[k]:
                line = parts.melody(rng, harmony, s.start_bar, s.n_bars, low=lo, high=hi,
                                    center=(lo + hi) / 2 + rng.uniform(-3, 3), unit=unit,
                                    phrase_bars=2 if s.n_bars >= 2 else 1, rest_beats=(1, 3),
                                    density=float(rng.uniform(0.4, 0.9)))
                notes += parts.melody_to_notes(rng, harmony.grid, line, timing_sd_s=timing_sd,
                                               end_s=end_s, base_vel=float(rng.uniform(80, 110)))
        else:
            c0, c1 = CENTERS[role]
            notes, pedal = parts.accompaniment(rng, role, harmony, spans, timing_sd_s=timing_sd,
                                               end_s=end_s, center=int(rng.integers(c0, c1 + 1)))
        if not notes:
            continue
        pan = float(np.clip(rng.normal(0.0, 0.45), -0.85, 0.85))
        out.append(Part(name=f"other{k}_{role}", stem="other", role=role, program=program,
                        notes=tuple(notes), pedal=tuple(pedal), modwheel=role == "lead",
                        pan=pan, gain_db=float(rng.uniform(-6.0, 3.0) if role != "lead" else rng.uniform(-3, 4)),
                        fx=_part_fx(rng, style, role, program)))
    return out


# --------------------------------------------------------------------------- vocals

REAL_VOICE_P = 0.85
"""Share of songs sung by a recorded speaker (where voice packages are installed); the
rest by espeak-ng."""


def _singer(rng: np.random.Generator) -> Singer:
    from rtsep.training.synth import voicebank  # reads the installed voice packages once

    speakers = voicebank.speakers()
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


def _vocal_lines(rng: np.random.Generator, singer: Singer, harmony: Harmony,
                 sections: list[Section], timing_sd: float, end_s: float) -> list[VocalLine]:
    grid = harmony.grid
    lo, hi = (47, 69) if singer.gender == "m" else (55, 77)
    shift = int(rng.integers(-3, 4))
    if singer.speech_f0_hz > 0:  # a recorded speaker: centre the range near its own voice
        ref = 115.0 if singer.gender == "m" else 210.0
        shift = int(np.clip(round(12 * np.log2(singer.speech_f0_hz / ref)) + rng.integers(-2, 3), -4, 4))
    lo, hi = lo + shift, hi + shift
    base_center = (lo + hi) / 2 - 1.5
    if grid.tempo_bpm > 140:
        unit = int(rng.choice([2, 4], p=[0.6, 0.4]))
    elif grid.tempo_bpm < 95:
        unit = int(rng.choice([1, 2], p=[0.35, 0.65]))
    else:
        unit = 2
    phrase_bars = 2 if grid.bar_s < 2.6 else 1
    vocab = lyrics.song_vocabulary(rng, int(rng.integers(16, 40)))
    density = float(rng.uniform(0.3, 0.9))
    templates: dict[tuple[str, int], list[parts.MelodyNote]] = {}
    chorus_words: dict[int, list[str]] = {}
    lead: list[VocalNote] = []
    backing: list[list[VocalNote]] = [[], []]
    doubles = rng.random() < 0.45
    double_notes: list[VocalNote] = []
    has_backing = rng.random() < 0.55
    backing_vowel = lyrics.BACKING_VOWELS[int(rng.integers(len(lyrics.BACKING_VOWELS)))]
    steps = grid.steps_per_bar
    for s in sections:
        if "vocals" not in s.stems:
            continue
        kind = "chorus" if s.name in ("chorus", "outro") else ("bridge" if s.name in ("bridge", "pre", "break") else "verse")
        key = (kind, s.n_bars)
        if key not in templates:
            center = base_center + {"verse": 0.0, "chorus": float(rng.uniform(1.5, 4.0)),
                                    "bridge": float(rng.uniform(-1.0, 3.0))}[kind]
            first = parts.melody(
                rng, harmony, s.start_bar, s.n_bars, low=lo, high=hi, center=center, unit=unit,
                phrase_bars=phrase_bars, rest_beats=(1, 4), density=density)
            # kept relative to the section start: later sections of the same kind
            # have the same chords (progressions restart at section starts)
            templates[key] = [replace(m, step=m.step - s.start_bar * steps) for m in first]
        line = templates[key]
        if kind == "chorus" and s.n_bars in chorus_words:
            words = chorus_words[s.n_bars]
        else:
            words = []
            phrase: list[int] = []
            for i, m in enumerate(line):
                if m.phrase_start and phrase:
                    words += lyrics.lyric_line(rng, len(phrase), vocab)
                    phrase = []
                phrase.append(i)
            if phrase:
                words += lyrics.lyric_line(rng, len(phrase), vocab)
            if kind == "chorus":
                chorus_words[s.n_bars] = words
        offset = s.start_bar * steps
        loud = 0.75 + 0.12 * s.intensity
        section_notes: list[VocalNote] = []
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
            vn = VocalNote(t0, max(0.08, t1 - t0), m.pitch, "" if slur else word,
                           float(np.clip(loud + rng.normal(0, 0.06), 0.4, 1.0)), m.phrase_start)
            section_notes.append(vn)
        lead += section_notes
        if doubles and kind == "chorus":
            double_notes += [n._replace(start_s=n.start_s + float(rng.normal(0.0, 0.012))) for n in section_notes]
        if has_backing and kind == "chorus":
            for v, (lo_b, hi_b) in enumerate(((base_center + 3, base_center + 9), (base_center - 4, base_center + 2))):
                for k, (b0, b1, chord) in enumerate(harmony.slots(s.start_bar, s.start_bar + s.n_bars)):
                    t0 = grid.time(b0)
                    t1 = min(grid.time(b1) - 0.05, end_s)
                    if t1 - t0 < 0.25:
                        continue
                    tones = [p for p in range(int(lo_b), int(hi_b) + 1) if p % 12 in chord.pitch_classes]
                    if not tones:
                        continue
                    pitch = tones[len(tones) // 2] if v == 0 else tones[0]
                    backing[v].append(VocalNote(t0, t1 - t0, int(pitch), backing_vowel if k == 0 or rng.random() < 0.3 else "",
                                                0.7, k == 0))
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


# --------------------------------------------------------------------------- the song

def _stem_gains(rng: np.random.Generator) -> dict[str, float]:
    """Stem levels (dB, each stem first normalised to the same active RMS): the
    vocals usually on top, and now and then one stem far down or pushed up."""
    gains = {"vocals": float(rng.normal(2.0, 3.0)), "drums": float(rng.uniform(-6, 3)),
             "bass": float(rng.uniform(-7, 3)), "other": float(rng.uniform(-7, 2))}
    r = rng.random()
    stem = STEMS[int(rng.integers(len(STEMS)))]
    if r < 0.12:
        gains[stem] -= float(rng.uniform(6, 12))
    elif r < 0.22:
        gains[stem] += float(rng.uniform(3, 6))
    return gains


def compose_song(seed: int, index: int, seconds: float) -> Song:
    """Compose song ``index`` of the run with ``seed`` (no audio is rendered).

    The result depends only on (seed, index, seconds).
    """
    ss = np.random.SeedSequence([int(seed), int(index)])
    r_style, r_form, r_harm, r_drum, r_bass, r_other, r_voc, r_mix = (
        np.random.default_rng(s) for s in ss.spawn(8))
    weights = np.array([s.weight for s in STYLES])
    style = STYLES[int(r_style.choice(len(STYLES), p=weights / weights.sum()))]
    tempo = float(np.clip(r_style.uniform(*style.tempo), 70.0, 170.0))
    meter = int(style.meters[int(r_style.integers(len(style.meters)))])
    swing = float(r_style.uniform(*style.swing)) if style.swing[1] > 0 else 0.0
    mode = str(style.modes[int(r_style.integers(len(style.modes)))])
    key_root = int(r_style.integers(12))
    grid = Grid(tempo_bpm=tempo, beats_per_bar=meter, swing=swing, swing_unit=style.swing_unit)
    end_s = float(seconds)
    total_bars = int(math.ceil(seconds / grid.bar_s))

    form = _form(r_form, total_bars)
    sections: list[Section] = []
    bar = 0
    for name, n_bars in form:
        stems = _section_stems(r_form, name)
        intensity = INTENSITY[name] if not (name == "verse" and r_form.random() < 0.3) else 0
        sections.append(Section(name, bar, n_bars, stems, intensity))
        bar += n_bars
    # every stem must play somewhere in the audible part of the song
    audible = [s for s in sections if grid.time(s.start_bar) < seconds - 0.5] or sections[:1]
    for stem in STEMS:
        if not any(stem in s.stems for s in audible):
            pick = next((s for s in audible if s.name in ("chorus", "verse")), audible[-1])
            i = sections.index(pick)
            sections[i] = Section(pick.name, pick.start_bar, pick.n_bars,
                                  tuple(st for st in STEMS if st in pick.stems or st == stem), pick.intensity)
            audible = [s for s in sections if grid.time(s.start_bar) < seconds - 0.5] or sections[:1]

    harmony, prog_names = _harmony(r_harm, style, grid, key_root, mode, form)

    timing_sd = float(r_drum.uniform(0.002, 0.009))
    groove = grooves.groove_for(r_drum, style.grooves, meter)
    from rtsep.training.synth.samples import loop_durations  # cheap: reads file headers once per process

    kit = grooves.choose_kit(r_drum, gm_kits=style.gm_kits, sample_prob=style.sample_drums,
                             loop_prob=style.loops, tempo_bpm=tempo, beats_per_bar=meter,
                             loop_durations_s=loop_durations())
    drum_spans = [(s.start_bar, s.n_bars, s.intensity, "drums" in s.stems) for s in sections]
    hits = grooves.drum_hits(r_drum, grid, groove, drum_spans, timing_sd, end_s)
    loop_bars: list[tuple[int, int]] = []
    if kit.loop is not None:
        loop_bars = [(s.start_bar, s.n_bars) for s in sections
                     if "drums" in s.stems and s.intensity >= 1 and r_drum.random() < 0.75]
    gm_hits = [h for h in hits if kit.voices[h.voice].source == "gm"]
    drum_notes = tuple(Note(h.time_s, 0.12, kit.voices[h.voice].gm_note, h.velocity) for h in gm_hits)
    all_parts: list[Part] = []
    if drum_notes:
        all_parts.append(Part(name="drums_gm", stem="drums", role="kit", program=kit.gm_program,
                              notes=drum_notes))

    bass_program = int(style.bass_programs[int(r_bass.integers(len(style.bass_programs)))])
    pattern = str(style.bass_patterns[int(r_bass.integers(len(style.bass_patterns)))])
    bass_spans = [(s.start_bar, s.n_bars) for s in sections if "bass" in s.stems]
    register = 28 if bass_program not in (38, 39, 87) or r_bass.random() < 0.6 else 33
    bass_notes = parts.bass_line(r_bass, harmony, bass_spans, pattern, timing_sd_s=timing_sd,
                                 end_s=end_s, register=register)
    all_parts.append(Part(
        name=f"bass_{pattern}", stem="bass", role=pattern, program=bass_program,
        notes=tuple(bass_notes), pan=float(r_bass.uniform(-0.1, 0.1)),
        fx=PartFx(hpf_hz=float(r_bass.uniform(25, 45)), lpf_hz=float(r_bass.uniform(2500, 9000)),
                  drive_db=float(r_bass.uniform(4, 14)) if r_bass.random() < 0.25 + 0.3 * style.distortion else 0.0,
                  comp_ratio=float(r_bass.uniform(2.0, 6.0)), tilt_db=float(r_bass.uniform(-3, 3)))))

    all_parts += _other_parts(r_other, style, harmony, sections, timing_sd, end_s)

    singer = _singer(r_voc)
    lines = _vocal_lines(r_voc, singer, harmony, sections, timing_sd, end_s)

    lo_rt, hi_rt = style.reverb_s
    mix = MixSettings(
        stem_gain_db=_stem_gains(r_mix),
        reverb_rt60_s=float(r_mix.uniform(lo_rt, hi_rt)),
        reverb_predelay_s=float(r_mix.uniform(0.0, 0.04)),
        reverb_send_db={"vocals": float(r_mix.uniform(-16, -6)), "drums": float(r_mix.uniform(-26, -12)),
                        "bass": float(r_mix.uniform(-40, -26)), "other": float(r_mix.uniform(-20, -8))},
        vocal_delay_s=float(r_mix.choice([0.0, 0.0, 0.09, 0.12, grid.beat_s * 0.75, grid.beat_s])),
        vocal_delay_mix=float(r_mix.uniform(0.05, 0.2)),
        reverb_kind="algorithmic" if r_mix.random() < 0.3 else "convolution",
        master_threshold_db=float(r_mix.uniform(-14, -2)),
        master_ratio=float(r_mix.uniform(1.0, 4.0)),
        master_release_s=float(r_mix.uniform(0.08, 0.4)),
        limiter_db=float(r_mix.uniform(0.0, 9.0)) if r_mix.random() < 0.6 else 0.0,
        peak_dbfs=float(max(-12.0, -1.0 - r_mix.exponential(2.0))) if r_mix.random() < 0.85 else float(r_mix.uniform(-12, -3)),
    )
    song = Song(seed=int(seed), index=int(index), seconds=float(seconds), style=style.name, grid=grid,
                key_root=key_root, mode=mode, sections=tuple(sections), harmony=harmony,
                progressions=prog_names, groove=groove, kit=kit, drum_hits=tuple(hits),
                loop_bars=tuple(loop_bars), parts=tuple(all_parts), singer=singer,
                vocal_lines=tuple(lines), mix=mix)
    from rtsep.training.synth.sourcing import realise  # reads the installed packages once

    return realise(song)
