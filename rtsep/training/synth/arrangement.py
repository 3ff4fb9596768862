"""Song composition: style, tempo, key, form, harmony, parts and mix settings.

:func:`compose_song` turns ``(seed, index, seconds)`` into a
:class:`~rtsep.training.synth.score.Song`: every note, drum hit and sung word with
its time in seconds, plus the settings the renderers and the mixer use. The singer
and the sung lines are composed by :mod:`~rtsep.training.synth.voice_parts`. It is
pure and cheap (no audio), so a dataset's manifest can be rebuilt without rendering.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from rtsep.constants import STEMS
from rtsep.training.synth import grooves, parts
from rtsep.training.synth.parts import Harmony, Note
from rtsep.training.synth.score import MixSettings, Part, PartFx, Section, Song
from rtsep.training.synth.styles import ROLE_INSTRUMENTS, STYLES, Style
from rtsep.training.synth.theory import PROGRESSIONS, Chord, Grid, diatonic_chord
from rtsep.training.synth.voice_parts import choose_singer, vocal_lines

MIN_SECONDS = 2.0
MAX_SECONDS = 600.0

HARMONIC_ROLES = ("comp", "strum", "power", "pad", "skank")

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


def _style_and_grid(rng: np.random.Generator) -> tuple[Style, Grid, str, int]:
    """The song's style, its time grid (tempo, meter, swing), mode and key root."""
    weights = np.array([s.weight for s in STYLES])
    style = STYLES[int(rng.choice(len(STYLES), p=weights / weights.sum()))]
    tempo = float(np.clip(rng.uniform(*style.tempo), 70.0, 170.0))
    meter = int(style.meters[int(rng.integers(len(style.meters)))])
    swing = float(rng.uniform(*style.swing)) if style.swing[1] > 0 else 0.0
    mode = str(style.modes[int(rng.integers(len(style.modes)))])
    key_root = int(rng.integers(12))
    return style, Grid(tempo_bpm=tempo, beats_per_bar=meter, swing=swing, swing_unit=style.swing_unit), \
        mode, key_root


def _sections(rng: np.random.Generator, form: list[tuple[str, int]], grid: Grid,
              seconds: float) -> list[Section]:
    """The form's sections with the stems that play in each; every stem plays
    somewhere in the audible part of the song."""
    sections: list[Section] = []
    bar = 0
    for name, n_bars in form:
        stems = _section_stems(rng, name)
        intensity = INTENSITY[name] if not (name == "verse" and rng.random() < 0.3) else 0
        sections.append(Section(name, bar, n_bars, stems, intensity))
        bar += n_bars
    audible = [s for s in sections if grid.time(s.start_bar) < seconds - 0.5] or sections[:1]
    for stem in STEMS:
        if not any(stem in s.stems for s in audible):
            pick = next((s for s in audible if s.name in ("chorus", "verse")), audible[-1])
            i = sections.index(pick)
            sections[i] = Section(pick.name, pick.start_bar, pick.n_bars,
                                  tuple(st for st in STEMS if st in pick.stems or st == stem), pick.intensity)
            audible = [s for s in sections if grid.time(s.start_bar) < seconds - 0.5] or sections[:1]
    return sections


class _Drums(NamedTuple):
    """A song's drums: timing looseness (s), groove, kit, hits, the bars a loop plays,
    and the General MIDI kit's part (none when no hit is a GM voice)."""

    timing_sd: float
    groove: str
    kit: grooves.Kit
    hits: list[grooves.DrumHit]
    loop_bars: list[tuple[int, int]]
    parts: list[Part]


def _drums(rng: np.random.Generator, style: Style, grid: Grid, sections: list[Section],
           end_s: float) -> _Drums:
    from rtsep.training.synth.samples import loop_durations  # cheap: reads file headers once per process

    timing_sd = float(rng.uniform(0.002, 0.009))
    groove = grooves.groove_for(rng, style.grooves, grid.beats_per_bar)
    kit = grooves.choose_kit(rng, gm_kits=style.gm_kits, sample_prob=style.sample_drums,
                             loop_prob=style.loops, tempo_bpm=grid.tempo_bpm,
                             beats_per_bar=grid.beats_per_bar, loop_durations_s=loop_durations())
    drum_spans = [(s.start_bar, s.n_bars, s.intensity, "drums" in s.stems) for s in sections]
    hits = grooves.drum_hits(rng, grid, groove, drum_spans, timing_sd, end_s)
    loop_bars: list[tuple[int, int]] = []
    if kit.loop is not None:
        loop_bars = [(s.start_bar, s.n_bars) for s in sections
                     if "drums" in s.stems and s.intensity >= 1 and rng.random() < 0.75]
    gm_hits = [h for h in hits if kit.voices[h.voice].source == "gm"]
    drum_notes = tuple(Note(h.time_s, 0.12, kit.voices[h.voice].gm_note, h.velocity) for h in gm_hits)
    gm_parts = [Part(name="drums_gm", stem="drums", role="kit", program=kit.gm_program,
                     notes=drum_notes)] if drum_notes else []
    return _Drums(timing_sd, groove, kit, hits, loop_bars, gm_parts)


def _bass_part(rng: np.random.Generator, style: Style, harmony: Harmony, sections: list[Section],
               timing_sd: float, end_s: float) -> Part:
    """The bass line: one of the style's programs and patterns, with its insert effects."""
    bass_program = int(style.bass_programs[int(rng.integers(len(style.bass_programs)))])
    pattern = str(style.bass_patterns[int(rng.integers(len(style.bass_patterns)))])
    bass_spans = [(s.start_bar, s.n_bars) for s in sections if "bass" in s.stems]
    register = 28 if bass_program not in (38, 39, 87) or rng.random() < 0.6 else 33
    bass_notes = parts.bass_line(rng, harmony, bass_spans, pattern, timing_sd_s=timing_sd,
                                 end_s=end_s, register=register)
    return Part(
        name=f"bass_{pattern}", stem="bass", role=pattern, program=bass_program,
        notes=tuple(bass_notes), pan=float(rng.uniform(-0.1, 0.1)),
        fx=PartFx(hpf_hz=float(rng.uniform(25, 45)), lpf_hz=float(rng.uniform(2500, 9000)),
                  drive_db=float(rng.uniform(4, 14)) if rng.random() < 0.25 + 0.3 * style.distortion else 0.0,
                  comp_ratio=float(rng.uniform(2.0, 6.0)), tilt_db=float(rng.uniform(-3, 3))))


def _mix_settings(rng: np.random.Generator, style: Style, grid: Grid) -> MixSettings:
    """Stem levels, reverb and delay sends, master compression, limiting and peak level."""
    lo_rt, hi_rt = style.reverb_s
    return MixSettings(
        stem_gain_db=_stem_gains(rng),
        reverb_rt60_s=float(rng.uniform(lo_rt, hi_rt)),
        reverb_predelay_s=float(rng.uniform(0.0, 0.04)),
        reverb_send_db={"vocals": float(rng.uniform(-16, -6)), "drums": float(rng.uniform(-26, -12)),
                        "bass": float(rng.uniform(-40, -26)), "other": float(rng.uniform(-20, -8))},
        vocal_delay_s=float(rng.choice([0.0, 0.0, 0.09, 0.12, grid.beat_s * 0.75, grid.beat_s])),
        vocal_delay_mix=float(rng.uniform(0.05, 0.2)),
        reverb_kind="algorithmic" if rng.random() < 0.3 else "convolution",
        master_threshold_db=float(rng.uniform(-14, -2)),
        master_ratio=float(rng.uniform(1.0, 4.0)),
        master_release_s=float(rng.uniform(0.08, 0.4)),
        limiter_db=float(rng.uniform(0.0, 9.0)) if rng.random() < 0.6 else 0.0,
        peak_dbfs=float(max(-12.0, -1.0 - rng.exponential(2.0))) if rng.random() < 0.85 else float(rng.uniform(-12, -3)),
    )


def compose_song(seed: int, index: int, seconds: float, without: tuple[str, ...] = ()) -> Song:
    """Compose song ``index`` of the run with ``seed`` (no audio is rendered).

    The result depends only on (seed, index, seconds, without): each aspect draws from
    its own random stream (style, form, harmony, drums, bass, other parts, vocals, mix).
    ``without`` names groups of real sources to leave out
    (:data:`~rtsep.training.synth.sourcing.ABLATIONS`); the composition (style, form,
    harmony, drums, bass, other parts) stays as it is with them. Without "voices", a song
    that a recorded speaker would sing gets an espeak-ng singer drawn from a stream of
    its own, whose sung lines differ; the draws after them (the choir and the mix
    additions of :func:`~rtsep.training.synth.sourcing.realise`) can then differ too.
    """
    from rtsep.training.synth.sourcing import check_without, realise  # reads the installed packages once

    without = check_without(without)
    ss = np.random.SeedSequence([int(seed), int(index)])
    r_style, r_form, r_harm, r_drum, r_bass, r_other, r_voc, r_mix = (
        np.random.default_rng(s) for s in ss.spawn(8))
    style, grid, mode, key_root = _style_and_grid(r_style)
    end_s = float(seconds)
    form = _form(r_form, int(math.ceil(seconds / grid.bar_s)))
    sections = _sections(r_form, form, grid, seconds)
    harmony, prog_names = _harmony(r_harm, style, grid, key_root, mode, form)
    drums = _drums(r_drum, style, grid, sections, end_s)
    all_parts = drums.parts + [_bass_part(r_bass, style, harmony, sections, drums.timing_sd, end_s)]
    all_parts += _other_parts(r_other, style, harmony, sections, drums.timing_sd, end_s)
    singer = choose_singer(r_voc)
    if "voices" in without and singer.source == "real":
        singer = choose_singer(np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 3])),
                               recorded=False)
    lines = vocal_lines(r_voc, singer, harmony, sections, drums.timing_sd, end_s)
    song = Song(seed=int(seed), index=int(index), seconds=float(seconds), style=style.name, grid=grid,
                key_root=key_root, mode=mode, sections=tuple(sections), harmony=harmony,
                progressions=prog_names, groove=drums.groove, kit=drums.kit, drum_hits=tuple(drums.hits),
                loop_bars=tuple(drums.loop_bars), parts=tuple(all_parts), singer=singer,
                vocal_lines=tuple(lines), mix=_mix_settings(r_mix, style, grid), without=without)
    return realise(song)
