"""Note generation for the pitched parts: bass lines, accompaniment, leads, melodies.

All functions are pure given their ``rng``: they return lists of :class:`Note`
(times in seconds from the song start, MIDI pitch, MIDI velocity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rtsep.training.synth.theory import Chord, Grid, chord_pitches, nearest_in, scale_pitches, voicing


class Note(NamedTuple):
    """One note: start and duration in seconds, MIDI pitch, MIDI velocity 1..127."""

    start_s: float
    dur_s: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Harmony:
    """The chord sequence of a song: chord ``k`` spans bars [starts[k], starts[k+1])."""

    grid: Grid
    key_root: int
    mode: str
    starts: tuple[float, ...]
    chords: tuple[Chord, ...]

    def index_at(self, bar: float) -> int:
        i = int(np.searchsorted(np.asarray(self.starts), bar + 1e-9, side="right")) - 1
        return max(0, min(i, len(self.chords) - 1))

    def chord_at(self, bar: float) -> Chord:
        return self.chords[self.index_at(bar)]

    def slots(self, bar0: float, bar1: float) -> list[tuple[float, float, Chord]]:
        """Chord slots clipped to [bar0, bar1): (start_bar, end_bar, chord)."""
        out = []
        ends = list(self.starts[1:]) + [float("inf")]
        for s, e, c in zip(self.starts, ends, self.chords):
            lo, hi = max(s, bar0), min(e, bar1)
            if hi > lo + 1e-9:
                out.append((lo, hi, c))
        return out


def _humanize(rng: np.random.Generator, t: float, sd: float) -> float:
    return max(0.0, t + float(rng.normal(0.0, sd)))


def _vel(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    return int(np.clip(round(base + rng.normal(0.0, spread)), 1, 127))


# --------------------------------------------------------------------------- bass

BASS_TEMPLATES: dict[str, tuple[str, ...]] = {
    "root8": ("r.r.r.r.r.r.r.r.", "r.r.r.r.r.r.r.ra"),
    "root4": ("r...r...r...r...", "r...r...r...f..."),
    "rootfifth": ("r.......f.......", "r...f...r...f..."),
    "octave": ("r.o.r.o.r.o.r.o.", "r.o.r.o.r.o.o.r."),
    "funk": ("r..r..o.r.g.r.oa", "r.g.r..or..r.g.o", "r..ro.r..r.gr.f."),
    "reggae": ("..r.r..t..r.f...", "r.....r.f..r..t."),
    "long": ("r...............", "r.......f......."),
    "pump": ("..r...r...r...r.", ".rr..rr..rr..rr."),
    "syncopated": ("r..r..r...r.r...", "r.....r..r..r.a.", "r..r....r..r.f.."),
}


def bass_line(rng: np.random.Generator, harmony: Harmony, bars: list[tuple[int, int]],
              pattern: str, *, timing_sd_s: float, end_s: float, register: int = 28) -> list[Note]:
    """A bass line over the given (start_bar, n_bars) spans, following the chords.

    ``register`` is the lowest root pitch (E1 = 28); roots fall in [register, register+11].
    """
    grid = harmony.grid
    steps = grid.steps_per_bar
    notes: list[Note] = []
    templates = BASS_TEMPLATES.get(pattern, BASS_TEMPLATES["root4"])
    template = templates[int(rng.integers(len(templates)))]
    gate = {"pump": 0.55, "funk": 0.6, "reggae": 0.75, "long": 0.95, "root8": 0.8}.get(pattern, 0.85)
    scale = scale_pitches(harmony.key_root, harmony.mode, register - 2, register + 26)
    for start_bar, n_bars in bars:
        for bar in range(start_bar, start_bar + n_bars):
            if pattern == "walking":
                notes.extend(_walking_bar(rng, harmony, bar, scale, register, timing_sd_s))
                continue
            row = template if rng.random() < 0.8 else templates[int(rng.integers(len(templates)))]
            onsets = [i for i, c in enumerate(row[:steps]) if c != "."]
            for k, step in enumerate(onsets):
                c = row[step]
                nxt = onsets[k + 1] if k + 1 < len(onsets) else steps
                chord = harmony.chord_at(bar + step / steps)
                root = register + (chord.root - register) % 12
                if c in "r":
                    pitch = root
                elif c == "o":
                    pitch = root + 12
                elif c == "f":
                    pitch = root + 7 if root + 7 <= register + 16 else root - 5
                elif c == "t":
                    pitch = root + chord.intervals[1]
                elif c == "a":  # approach the next chord's root from a step below/above
                    nchord = harmony.chord_at(bar + 1)
                    target = register + (nchord.root - register) % 12
                    pitch = target + int(rng.choice([-1, 1, -2]))
                else:  # "g": a dead note, short and quiet
                    pitch = root
                vel = 45 if c == "g" else (100 if step % 4 == 0 else 86)
                dur_steps = 0.5 if c == "g" else max(0.5, (nxt - step) * gate)
                t0 = _humanize(rng, grid.time(bar, step), timing_sd_s)
                t1 = grid.time(bar, step + dur_steps)
                if t0 < end_s:
                    notes.append(Note(t0, max(0.03, t1 - t0), int(pitch), _vel(rng, vel, 7)))
    return notes


def _walking_bar(rng: np.random.Generator, harmony: Harmony, bar: int, scale: np.ndarray,
                 register: int, sd: float) -> list[Note]:
    grid = harmony.grid
    chord = harmony.chord_at(bar)
    nxt = harmony.chord_at(bar + 1)
    root = register + (chord.root - register) % 12
    target = register + (nxt.root - register) % 12
    tones = chord_pitches(chord, register, register + 19)
    out = []
    pitch = root
    for beat in range(grid.beats_per_bar):
        if beat == 0:
            pitch = root
        elif beat == grid.beats_per_bar - 1:
            pitch = target + int(rng.choice([-1, 1]))
        else:
            cand = tones if rng.random() < 0.6 else scale
            step = int(np.sign(target - pitch) or 1) * int(rng.integers(1, 5))
            pitch = nearest_in(cand, pitch + step)
        t0 = _humanize(rng, grid.time(bar, beat * 4), sd)
        out.append(Note(t0, grid.beat_s * 0.9, int(pitch), _vel(rng, 92 if beat % 2 == 0 else 84, 6)))
    return out


# --------------------------------------------------------------------------- accompaniment

COMP_RHYTHMS = (
    "x...............", "x.......x.......", "x...x...x...x...", "x..x..x.x..x.x..",
    "..x...x...x...x.", "x.x.x.x.x.x.x.x.", "x..x..x...x..x..", "x.....x.....x...",
)
STRUM_RHYTHMS = ("D.D.DUDU", "D.DU.UDU", "D...D.DU", "D.D.D.D.", "D..UD.DU", "DUDUDUDU")
STAB_RHYTHMS = ("..x...x..x...x..", "x......x..x.....", "...x..x....x..x.", "x.x.....x.x.....")
SKANK_RHYTHMS = ("..x...x...x...x.", "..x.x...x.x...x.", "....x.......x...")


class _Comping:
    """A chordal part being played: the choices fixed for the whole song (a rhythm row
    per role, voices, arpeggio rate and shape, sustain pedal, left hand, velocity) and
    the notes and pedal events played so far."""

    def __init__(self, rng: np.random.Generator, role: str, grid: Grid, *, timing_sd_s: float,
                 end_s: float, center: int):
        self.rng, self.grid, self.timing_sd_s, self.end_s, self.center = rng, grid, timing_sd_s, end_s, center
        self.steps = grid.steps_per_bar
        self.notes: list[Note] = []
        self.pedal: list[tuple[float, int]] = []
        self.rows = {"comp": COMP_RHYTHMS[int(rng.integers(len(COMP_RHYTHMS)))]}
        self.rows["strum"] = STRUM_RHYTHMS[int(rng.integers(len(STRUM_RHYTHMS)))]
        self.rows["stabs"] = STAB_RHYTHMS[int(rng.integers(len(STAB_RHYTHMS)))]
        self.rows["skank"] = SKANK_RHYTHMS[int(rng.integers(len(SKANK_RHYTHMS)))]
        self.n_voices = int(rng.integers(3, 5))
        self.arp_rate = 1 if (grid.tempo_bpm < 110 and rng.random() < 0.5) else 2
        self.arp_shape = int(rng.integers(3))
        self.use_pedal = role == "comp" and rng.random() < 0.5
        self.left_hand = role == "comp" and rng.random() < 0.4
        self.base_vel = float(rng.uniform(70, 100))

    def add(self, t_bar: int, step: float, dur_steps: float, pitch: int, vel: float, jitter: float = 0.0):
        """One note from step ``step`` of bar ``t_bar`` (humanised; none from ``end_s`` on)."""
        t0 = _humanize(self.rng, self.grid.time(t_bar, step), self.timing_sd_s) + jitter
        t1 = self.grid.time(t_bar, step + dur_steps)
        if t0 < self.end_s:
            self.notes.append(Note(t0, max(0.04, t1 - t0), int(pitch), _vel(self.rng, vel, 6)))

    def play(self, role: str, bar: int, st0: float, st1: float, chord: Chord, intensity: int,
             vel_scale: float) -> None:
        """Play ``chord`` from step ``st0`` to ``st1`` of ``bar`` in the manner of ``role``."""
        chord_voicing = voicing(chord, self.center, self.n_voices)
        if role == "pad":
            for p in chord_voicing:
                self.add(bar, st0, st1 - st0 + 0.3, p, self.base_vel * 0.8 * vel_scale)
        elif role in ("comp", "stabs", "skank"):
            self._rhythm(role, bar, st0, st1, chord, chord_voicing, vel_scale)
        elif role == "strum":
            self._strum(bar, st0, st1, chord, vel_scale)
        elif role == "power":
            self._power(bar, st0, st1, chord, intensity, vel_scale)
        elif role == "arp":
            self._arp(bar, st0, st1, chord, vel_scale)

    def _rhythm(self, role: str, bar: int, st0: float, st1: float, chord: Chord,
                chord_voicing: list[int], vel_scale: float) -> None:
        """Comp, stabs or skank: the voicing on the role's rhythm row (a piano comp's
        left hand and sustain pedal too)."""
        row = self.rows[role]
        gate = {"comp": 0.9, "stabs": 0.3, "skank": 0.35}[role]
        on = [i for i in range(int(st0), int(np.ceil(st1))) if row[i % 16] != "." and i < self.steps]
        for k, i in enumerate(on):
            nxt = on[k + 1] if k + 1 < len(on) else st1
            vel = self.base_vel * vel_scale * (1.0 if i % 4 == 0 else 0.88)
            for p in chord_voicing:
                self.add(bar, i, max(0.5, (nxt - i) * gate), p, vel, float(self.rng.normal(0, 0.004)))
            if self.left_hand and i % 8 == 0:
                self.add(bar, i, max(1.0, (nxt - i) * gate), chord.root + 36 + 12 * (chord.root < 4), vel)
        if self.use_pedal and on:
            self.pedal.append((max(0.0, self.grid.time(bar, st0) - 0.01), 0))
            self.pedal.append((self.grid.time(bar, st0) + 0.03, 127))

    def _strum(self, bar: int, st0: float, st1: float, chord: Chord, vel_scale: float) -> None:
        """Guitar strums on the strum row's eighths: down across the strings, up across
        the top ones, each string a little later."""
        row = self.rows["strum"]
        low = chord_pitches(chord, 40, 66)
        strings = list(low[-6:]) if len(low) >= 6 else list(low)
        for i8 in range(int(st0) // 2, int(np.ceil(st1 / 2))):
            c = row[i8 % len(row)]
            if c == "." or i8 * 2 >= self.steps:
                continue
            down = c == "D"
            order = strings if down else strings[::-1][: max(3, len(strings) - 2)]
            spread = float(self.rng.uniform(0.007, 0.016))
            vel = self.base_vel * vel_scale * (1.0 if down else 0.78)
            nxt_steps = 2.0 * (1 + (row[(i8 + 1) % len(row)] == "."))
            for k, p in enumerate(order):
                self.add(bar, i8 * 2, nxt_steps * 0.95, p, vel - 3 * k, k * spread)

    def _power(self, bar: int, st0: float, st1: float, chord: Chord, intensity: int,
               vel_scale: float) -> None:
        """A power chord (root, fifth, octave): chugged eighths or held."""
        root = 40 + (chord.root - 40) % 12
        shape = [root, root + 7, root + 12]
        chug = intensity < 2 and self.rng.random() < 0.7
        if chug:
            for i in range(int(st0), int(np.ceil(st1)), 2):
                if i < self.steps:
                    for p in shape:
                        self.add(bar, i, 0.8, p, self.base_vel * vel_scale * (1.0 if i % 4 == 0 else 0.85))
        else:
            for p in shape:
                self.add(bar, st0, st1 - st0, p, self.base_vel * vel_scale)

    def _arp(self, bar: int, st0: float, st1: float, chord: Chord, vel_scale: float) -> None:
        """The chord tones above ``center`` one at a time: up, up and down, or down."""
        tones = chord_pitches(chord, self.center, self.center + 19)
        if len(tones) == 0:
            return
        shape = self.arp_shape
        seq = list(tones) if shape == 0 else (list(tones) + list(tones[-2:0:-1]) if shape == 1 else list(tones[::-1]))
        for k, i in enumerate(range(int(st0), int(np.ceil(st1)), self.arp_rate)):
            if i < self.steps:
                self.add(bar, i, self.arp_rate * 1.6, seq[k % len(seq)],
                         self.base_vel * vel_scale * (1.0 if i % 4 == 0 else 0.85))


def accompaniment(rng: np.random.Generator, role: str, harmony: Harmony,
                  bars: list[tuple[int, int, int]], *, timing_sd_s: float, end_s: float,
                  center: int = 62) -> tuple[list[Note], list[tuple[float, int]]]:
    """Chordal parts: comp, strum, power, arp, pad, stabs, skank.

    Parameters
    ----------
    bars : list of (start_bar, n_bars, intensity 0..2)
    center : register centre of the voicings (MIDI pitch)

    Returns
    -------
    notes : list of Note
    pedal : list of (time_s, value 0/127) sustain-pedal events (piano comp only)
    """
    player = _Comping(rng, role, harmony.grid, timing_sd_s=timing_sd_s, end_s=end_s, center=center)
    steps = harmony.grid.steps_per_bar
    for start_bar, n_bars, intensity in bars:
        vel_scale = (0.8, 1.0, 1.12)[intensity]
        for bar in range(start_bar, start_bar + n_bars):
            for s0, s1, chord in harmony.slots(bar, bar + 1):
                player.play(role, bar, (s0 - bar) * steps, (s1 - bar) * steps, chord, intensity, vel_scale)
    player.notes.sort(key=lambda n: n.start_s)
    return player.notes, player.pedal


# --------------------------------------------------------------------------- melodies

@dataclass(frozen=True)
class MelodyNote:
    """A melody note in musical time: absolute step (16ths from song start), length in steps."""

    step: float
    length: float
    pitch: int
    phrase_start: bool


def melody(rng: np.random.Generator, harmony: Harmony, start_bar: int, n_bars: int, *,
           low: int, high: int, center: float, unit: int, phrase_bars: int,
           rest_beats: tuple[int, int] = (1, 4), density: float = 0.5) -> list[MelodyNote]:
    """A phrased melody over [start_bar, start_bar + n_bars).

    Parameters
    ----------
    low, high : pitch range (inclusive)
    center : the pitch the line gravitates to
    unit : rhythmic unit in 16ths (1, 2 or 4)
    phrase_bars : phrase length in bars (a rest of ``rest_beats`` ends each phrase)
    density : 0..1, how often short notes are chosen over long ones
    """
    grid = harmony.grid
    steps = grid.steps_per_bar
    scale = scale_pitches(harmony.key_root, harmony.mode, low, high)
    out: list[MelodyNote] = []
    pitch = nearest_in(scale, center)
    bar = start_bar
    while bar < start_bar + n_bars:
        pb = min(phrase_bars, start_bar + n_bars - bar)
        p_start = bar * steps + int(rng.choice([0, 0, 0, unit, 2 * unit]))
        rest = int(rng.integers(rest_beats[0], rest_beats[1] + 1)) * 4
        p_end = (bar + pb) * steps - min(rest, pb * steps // 2)
        s = p_start
        first = True
        while s < p_end - 0.5:
            r = rng.random()
            if r < 0.55 * density + 0.15:
                length = unit
            elif r < 0.8:
                length = 2 * unit
            elif r < 0.9:
                length = 3 * unit
            else:
                length = 4 * unit
            if s + length > p_end or p_end - (s + length) < unit:
                length = p_end - s
            if not first and rng.random() < 0.06 and s + unit < p_end:
                s += unit  # a breath inside the phrase
                continue
            chord = harmony.chord_at(s / steps)
            iv = int(rng.choice([0, 1, -1, 2, -2, 3, -3, 4, -4],
                                p=[0.14, 0.22, 0.22, 0.13, 0.13, 0.05, 0.05, 0.03, 0.03]))
            if pitch > center + 4:
                iv -= int(rng.random() < 0.4)
            elif pitch < center - 4:
                iv += int(rng.random() < 0.4)
            idx = int(np.argmin(np.abs(scale - pitch))) + iv
            pitch = int(scale[int(np.clip(idx, 0, len(scale) - 1))])
            strong = (s % 4 == 0) or length >= 4 or s + length >= p_end
            if strong and rng.random() < 0.75:
                tones = chord_pitches(chord, low, high)
                if len(tones):
                    pitch = nearest_in(tones, pitch)
            out.append(MelodyNote(float(s), float(length), pitch, first))
            first = False
            s += length
        bar += pb
    return out


def melody_to_notes(rng: np.random.Generator, grid: Grid, line: list[MelodyNote], *,
                    timing_sd_s: float, end_s: float, base_vel: float, legato: float = 0.92) -> list[Note]:
    """Render a melody line to timed notes (for instruments)."""
    notes = []
    for m in line:
        t0 = _humanize(rng, grid.time(0, m.step), timing_sd_s)
        t1 = grid.time(0, m.step + m.length * legato)
        if t0 < end_s:
            notes.append(Note(t0, max(0.05, t1 - t0), m.pitch, _vel(rng, base_vel, 8)))
    return notes
