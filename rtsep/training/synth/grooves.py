"""Drum composition: grooves, fills, the kit a song uses, and the hits it plays.

A groove is a one-bar pattern per drum voice on a 16th grid (12 steps in 3/4).
Characters: ``X`` accent, ``x`` normal, ``o`` soft, ``g`` ghost, ``?`` a normal hit
played with probability 0.35 (decided per bar), ``.`` rest.

Each voice of a song's kit comes either from the General MIDI drum kit (rendered
by FluidSynth) or from a recorded sonic-pi one-shot; recorded loops (breakbeats)
are layered in some songs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rtsep.training.synth.theory import Grid

VOICES = ("kick", "snare", "stick", "clap", "chh", "phh", "ohh", "ride", "bell", "crash",
          "tom_hi", "tom_mid", "tom_lo", "perc")

GM_NOTES: dict[str, tuple[int, ...]] = {
    "kick": (36, 35), "snare": (38, 40), "stick": (37,), "clap": (39,), "chh": (42,),
    "phh": (44,), "ohh": (46,), "ride": (51, 59), "bell": (53,), "crash": (49, 57),
    "tom_hi": (50, 48), "tom_mid": (47, 45), "tom_lo": (43, 41), "perc": (54, 70, 69, 56, 75),
}
"""General MIDI percussion keys per voice (alternatives, one chosen per song)."""

SAMPLE_POOLS: dict[str, tuple[str, ...]] = {
    "kick": ("bd_808", "bd_ada", "bd_boom", "bd_fat", "bd_gas", "bd_haus", "bd_klub",
             "bd_mehackit", "bd_pure", "bd_sone", "bd_tek", "bd_zome", "bd_zum",
             "drum_heavy_kick", "drum_bass_hard", "elec_hollow_kick", "elec_soft_kick"),
    "snare": ("sn_dolf", "sn_dub", "sn_generic", "sn_zome", "drum_snare_hard", "elec_snare",
              "elec_hi_snare", "elec_lo_snare", "elec_mid_snare", "elec_filt_snare"),
    "clap": ("perc_snap", "perc_snap2"),
    "chh": ("drum_cymbal_closed", "drum_cymbal_pedal"),
    "phh": ("drum_cymbal_pedal",),
    "ohh": ("drum_cymbal_open",),
    "crash": ("drum_cymbal_hard", "drum_splash_hard", "drum_cymbal_soft", "elec_cymbal",
              "drum_splash_soft"),
    "tom_hi": ("drum_tom_hi_hard",),
    "tom_mid": ("drum_tom_mid_hard",),
    "tom_lo": ("drum_tom_lo_hard", "elec_fuzz_tom"),
    "perc": ("drum_cowbell", "elec_triangle", "elec_wood", "perc_snap", "tabla_na", "tabla_te1"),
}
"""sonic-pi one-shots per voice (file stems, ``.flac``)."""

SAMPLE_PEAK = {"kick": 0.11, "snare": 0.1, "clap": 0.1, "chh": 0.035, "phh": 0.04, "ohh": 0.04,
               "crash": 0.07, "tom_hi": 0.1, "tom_mid": 0.1, "tom_lo": 0.1, "perc": 0.06}
"""Peak a recorded one-shot is scaled to at velocity 100 (matches the GM kit's level
as FluidSynth renders it at gain 0.25)."""

SOFT_VARIANTS = {
    "drum_snare_hard": "drum_snare_soft", "drum_bass_hard": "drum_bass_soft",
    "drum_tom_hi_hard": "drum_tom_hi_soft", "drum_tom_mid_hard": "drum_tom_mid_soft",
    "drum_tom_lo_hard": "drum_tom_lo_soft", "drum_splash_hard": "drum_splash_soft",
}
"""Softer recordings of the same drum, used for hits below velocity 70."""

LOOPS: dict[str, int] = {
    "loop_amen": 4, "loop_amen_full": 16, "loop_breakbeat": 4, "loop_compus": 16,
    "loop_industrial": 2, "loop_mika": 16, "loop_safari": 16, "loop_tabla": 16,
    "loop_perc1": 4, "loop_perc2": 4,
}
"""Recorded drum loops and how many beats each spans (its natural tempo follows)."""

GROOVES: dict[str, dict[str, str]] = {
    "rock": {"kick": "x.......x.x.....", "snare": "....X.......X...", "chh": "x.o.x.o.x.o.x.o."},
    "rock2": {"kick": "x......?x.?.....", "snare": "....X.......X..?", "chh": "x.x.x.x.x.x.x.x."},
    "rock16": {"kick": "x.....x.x.......", "snare": "....X.......X...", "chh": "xoxoxoxoxoxoxoxo"},
    "punk": {"kick": "x.x.x.x.x.x.x.x.", "snare": "....X.......X...", "ride": "x.x.x.x.x.x.x.x."},
    "halftime": {"kick": "x.....x...?.....", "snare": "........X.......", "chh": "x.x.x.x.x.x.x.x."},
    "pop": {"kick": "x.......x..x....", "snare": "....X.......X...", "chh": "x.x.x.x.x.x.x.x.",
            "perc": "..o...o...o...o."},
    "poprnb": {"kick": "x..x....x.?.....", "clap": "....X.......X...", "chh": "xoxoxoxoxoxoxoxo"},
    "fourfloor": {"kick": "X...X...X...X...", "clap": "....x.......x...", "ohh": "..x...x...x...x.",
                  "chh": "x...x...x...x..."},
    "electro": {"kick": "X.....x...x.....", "clap": "....X.......X...", "chh": "x.xxx.x.x.xxx.x.",
                "perc": "......o.......o."},
    "funk": {"kick": "x..x..x...x..x..", "snare": "....X..g.g..X..g", "chh": "xoxoxoxoxoxoxoxo"},
    "funk2": {"kick": "x.x...x..x......", "snare": "....X.g..g.gX...", "chh": "x.x.x.x.x.x.xox."},
    "hiphop": {"kick": "x......x..x.....", "snare": "....X.......X...", "chh": "x.x.x.x.x.x.x.x."},
    "hiphop2": {"kick": "x.....x..x.x....", "snare": "....X.......X...", "chh": "x.x.x.xxx.x.x.x."},
    "ballad": {"kick": "x.......x.......", "stick": "....x.......x...", "ride": "x...x...x...x..."},
    "folk": {"kick": "x.......x.......", "snare": "....x.......x...", "perc": "x.x.x.x.x.x.x.x."},
    "train": {"kick": "x.......x.......", "snare": "ggxgggxgggxgggxg", "chh": "....x.......x..."},
    "swing": {"ride": "x...x.x.x...x.x.", "phh": "....x.......x...", "kick": "o...o...o...o...",
              "snare": "......g.......?."},
    "onedrop": {"kick": "........X.......", "stick": "........X.......", "chh": "x.x.x.x.x.x.x.x."},
    "dnb": {"kick": "x.........x.....", "snare": "....X.......X...", "chh": "x.x.x.x.x.x.x.x."},
    "breaks": {"kick": "x.....x...x.....", "snare": "....X.......X..g", "chh": "x.x.x.x.x.x.x.x."},
}
"""One-bar 4/4 grooves (16 steps)."""

GROOVES_3: dict[str, dict[str, str]] = {
    "waltz": {"kick": "x...........", "snare": "....o...o...", "chh": "x.o.x.o.x.o."},
    "waltz_ride": {"kick": "x.......?...", "stick": "....x...x...", "ride": "x...x.x.x..."},
    "sixeight": {"kick": "x.....x.....", "snare": "......X.....", "chh": "x.x.x.x.x.x."},
}
"""One-bar 3/4 grooves (12 steps)."""

_VELOCITY = {"X": (108, 127), "x": (88, 108), "o": (62, 82), "g": (26, 46), "?": (80, 100)}


class DrumHit(NamedTuple):
    """One drum stroke: ``time_s`` from the song start, voice, MIDI velocity 1..127."""

    time_s: float
    voice: str
    velocity: int


@dataclass(frozen=True)
class KitVoice:
    """Where a voice's sound comes from: a GM key, or a sonic-pi sample at a rate."""

    source: str  # "gm", "sample", or a real kit: "hydrogen", "avl" (see sourcing)
    gm_note: int
    sample: str = ""
    rate: float = 1.0
    gain_db: float = 0.0
    pan: float = 0.0


@dataclass(frozen=True)
class LoopLayer:
    """A recorded loop resampled to the song tempo (``rate`` > 1 plays faster)."""

    sample: str
    beats: int
    rate: float
    gain_db: float


@dataclass(frozen=True)
class Kit:
    """A song's drum kit: GM kit program plus one :class:`KitVoice` per voice."""

    gm_program: int
    voices: dict[str, KitVoice]
    loop: LoopLayer | None
    mode: str

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "gm_program": self.gm_program,
            "voices": {
                v: ({"gm_note": k.gm_note} if k.source == "gm"
                    else {"sample": k.sample, "rate": round(k.rate, 4)} if k.source == "sample"
                    else {"source": k.source, "gm_note": k.gm_note})
                for v, k in self.voices.items()
            },
            "loop": None if self.loop is None else {
                "sample": self.loop.sample, "rate": round(self.loop.rate, 4),
                "gain_db": round(self.loop.gain_db, 2)},
        }


def choose_kit(rng: np.random.Generator, *, gm_kits: tuple[int, ...], sample_prob: float,
               loop_prob: float, tempo_bpm: float, beats_per_bar: int,
               loop_durations_s: dict[str, float]) -> Kit:
    """Pick a kit for one song.

    ``loop_durations_s`` maps loop names to their length in seconds (from the
    sample files); a loop is used only if it fits the tempo within ±22 %.
    """
    r = rng.random()
    if r < 0.6 * sample_prob:
        mode = "samples"
    elif r < 0.6 * sample_prob + 0.35:
        mode = "hybrid"
    else:
        mode = "gm"
    voices: dict[str, KitVoice] = {}
    for voice in VOICES:
        alts = GM_NOTES[voice]
        gm_note = int(alts[0] if rng.random() < 0.7 else alts[int(rng.integers(len(alts)))])
        use_sample = voice in SAMPLE_POOLS and (
            mode == "samples" or (mode == "hybrid" and rng.random() < 0.5))
        pan = float(np.clip(rng.normal(0.0, 0.25), -0.6, 0.6)) if voice not in ("kick", "snare") else 0.0
        if voice.startswith("tom"):
            pan = {"tom_hi": -0.35, "tom_mid": 0.0, "tom_lo": 0.35}[voice] * float(rng.choice([-1, 1]))
        if use_sample:
            pool = SAMPLE_POOLS[voice]
            voices[voice] = KitVoice(
                source="sample", gm_note=gm_note, sample=str(pool[int(rng.integers(len(pool)))]),
                rate=float(2.0 ** (rng.uniform(-2.5, 2.5) / 12.0)),
                gain_db=float(rng.uniform(-3.0, 3.0)), pan=pan)
        else:
            voices[voice] = KitVoice(source="gm", gm_note=gm_note)
    loop = None
    if beats_per_bar == 4 and rng.random() < loop_prob:
        fits = []
        for name, beats in LOOPS.items():
            if name not in loop_durations_s:
                continue
            for mult in (0.5, 1.0, 2.0):
                span = int(round(beats * mult))  # beats the loop covers at the song tempo
                rate = tempo_bpm * loop_durations_s[name] / (60.0 * span)
                if span >= 2 and 0.82 <= rate <= 1.22:
                    fits.append((name, span, rate))
        if fits:
            name, span, rate = fits[int(rng.integers(len(fits)))]
            loop = LoopLayer(sample=name, beats=span, rate=float(rate),
                             gain_db=float(rng.uniform(-6.0, 0.0)))
    kit_program = int(gm_kits[int(rng.integers(len(gm_kits)))])
    return Kit(gm_program=kit_program, voices=voices, loop=loop, mode=mode)


def groove_for(rng: np.random.Generator, names: tuple[str, ...], beats_per_bar: int) -> str:
    """Pick a groove name for a song (3/4 songs use the 3/4 table)."""
    if beats_per_bar == 3:
        keys = tuple(GROOVES_3)
        return keys[int(rng.integers(len(keys)))]
    return names[int(rng.integers(len(names)))]


def _pattern(groove: str) -> dict[str, str]:
    return GROOVES_3[groove] if groove in GROOVES_3 else GROOVES[groove]


def _intensify(pattern: dict[str, str], rng: np.random.Generator, intensity: int,
               steps: int) -> dict[str, str]:
    """Section variants: 0 sparse, 1 as written, 2 bigger (ride/open hats, more kick)."""
    pat = dict(pattern)
    if intensity == 0:
        keep = {"kick", "chh", "stick", "ride", "phh", "perc"}
        pat = {v: p for v, p in pat.items() if v in keep}
        if rng.random() < 0.5 and "chh" in pat:
            pat["chh"] = "".join(c if i % 4 == 0 else "." for i, c in enumerate(pat["chh"]))
        if "snare" in pattern and rng.random() < 0.6:
            pat["stick"] = pattern["snare"].replace("X", "o").replace("x", "o").replace("g", ".")
    elif intensity == 2:
        if "chh" in pat and rng.random() < 0.55:
            hats = pat.pop("chh")
            if rng.random() < 0.5:
                pat["ride"] = hats
            else:
                pat["ohh"] = "".join("x" if (i % 4 == 2) else "." for i in range(steps))
                pat["chh"] = "".join(c if i % 4 != 2 else "." for i, c in enumerate(hats))
        if "kick" in pat:
            pat["kick"] = "".join("?" if (c == "." and i % 2 == 0 and rng.random() < 0.25) else c
                                  for i, c in enumerate(pat["kick"]))
        if "snare" in pat and "clap" not in pat and rng.random() < 0.3:
            pat["clap"] = pat["snare"].replace("g", ".")
    return pat


def _fill(rng: np.random.Generator, steps: int) -> list[tuple[int, str, str]]:
    """A fill over the last 4 or 8 steps of a bar: (step, voice, velocity char)."""
    length = 8 if rng.random() < 0.4 else 4
    voices = ("snare", "tom_hi", "tom_mid", "tom_lo")
    kind = rng.integers(3)
    out = []
    for k, step in enumerate(range(steps - length, steps)):
        if kind == 0:  # snare roll
            voice = "snare"
        elif kind == 1:  # descending toms
            voice = voices[min(3, k * 4 // length)]
        else:
            voice = str(rng.choice(voices))
        if rng.random() < 0.15 and k < length - 1:
            continue
        out.append((step, voice, "x" if k % 2 == 0 else "o"))
    return out


def drum_hits(rng: np.random.Generator, grid: Grid, groove: str,
              sections: list[tuple[int, int, int, bool]], timing_sd_s: float,
              end_s: float) -> list[DrumHit]:
    """All drum hits of a song.

    Parameters
    ----------
    sections : list of (start_bar, n_bars, intensity, drums_active)
    timing_sd_s : humanising jitter (standard deviation, seconds)
    end_s : no hit at or after this time

    Returns
    -------
    list of DrumHit, sorted by time
    """
    base = _pattern(groove)
    steps = grid.steps_per_bar
    hits: list[DrumHit] = []
    for idx, (start_bar, n_bars, intensity, active) in enumerate(sections):
        if not active:
            continue
        pat = _intensify(base, rng, intensity, steps)
        next_active = idx + 1 < len(sections) and sections[idx + 1][3]
        for b in range(n_bars):
            bar = start_bar + b
            events: list[tuple[int, str, str]] = []
            for voice, row in pat.items():
                for step, c in enumerate(row[:steps]):
                    if c == "." or (c == "?" and rng.random() >= 0.35):
                        continue
                    events.append((step, voice, c))
            last_bar = b == n_bars - 1
            if last_bar and next_active and n_bars >= 2 and rng.random() < 0.65:
                fill = _fill(rng, steps)
                first = fill[0][0] if fill else steps
                events = [e for e in events if e[0] < first or e[1] in ("kick",)] + fill
            if b == 0 and (intensity >= 1 and rng.random() < 0.8 or idx > 0 and rng.random() < 0.4):
                events.append((0, "crash", "X"))
                events = [e for e in events if not (e[0] == 0 and e[1] in ("chh", "ride"))]
            for step, voice, c in events:
                lo, hi = _VELOCITY[c]
                vel = int(rng.integers(lo, hi + 1))
                if voice in ("chh", "ride") and step % 4 != 0:
                    vel = int(vel * 0.85)
                t = grid.time(bar, step) + float(rng.normal(0.0, timing_sd_s))
                t = max(t, 0.0)
                if t < end_s:
                    hits.append(DrumHit(t, voice, max(1, min(127, vel))))
    hits.sort(key=lambda h: (h.time_s, h.voice))
    return hits
