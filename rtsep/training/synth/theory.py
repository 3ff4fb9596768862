"""Music theory the composer needs: scales, diatonic chords, progressions.

Pitches are MIDI note numbers (60 = middle C); pitch classes are 0..11 (0 = C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}

# Progressions as 0-based scale degrees, one entry per chord slot.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": (
        (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 4, 3), (0, 5, 3, 4), (1, 4, 0, 0),
        (0, 3, 0, 4), (3, 4, 2, 5), (0, 2, 3, 4), (3, 0, 4, 5), (0, 4, 3, 3),
        (0, 0, 3, 4), (5, 4, 3, 4), (0, 3, 1, 4), (3, 3, 0, 0),
    ),
    "minor": (
        (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2),
        (5, 6, 0, 0), (0, 2, 5, 4), (0, 0, 5, 6), (0, 3, 0, 4),
    ),
    "dorian": ((0, 3, 0, 3), (0, 6, 3, 0), (0, 1, 0, 3), (0, 3, 6, 4)),
    "mixolydian": ((0, 6, 3, 0), (0, 3, 6, 3), (0, 6, 0, 3), (0, 4, 6, 3)),
}

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class and the pitch classes above it (intervals, semitones)."""

    root: int
    intervals: tuple[int, ...]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    def name(self) -> str:
        third = self.intervals[1] if len(self.intervals) > 1 else 4
        quality = {3: "m", 4: "", 5: "sus4", 2: "sus2"}.get(third, "")
        ext = "7" if any(i in (10, 11) for i in self.intervals) else ""
        add9 = "add9" if 14 in self.intervals else ""
        return f"{NOTE_NAMES[self.root]}{quality}{ext}{add9}"


def diatonic_chord(key_root: int, mode: str, degree: int, *, seventh: bool = False,
                   color: str = "") -> Chord:
    """The chord built in thirds on a scale degree.

    Parameters
    ----------
    key_root : int, pitch class of the tonic (0..11)
    mode : str, a key of :data:`SCALES`
    degree : int, 0-based scale degree
    seventh : add the diatonic seventh
    color : "" , "sus2", "sus4" or "add9"
    """
    scale = SCALES[mode]
    n = len(scale)

    def step(k: int) -> int:
        octave, idx = divmod(degree + k, n)
        return scale[idx] + 12 * octave - scale[degree % n]

    intervals = [0, step(2), step(4)]
    # A diminished triad (the leading-tone chord) sounds wrong in pop: make it minor.
    if intervals[2] == 6:
        intervals[2] = 7
    if color == "sus2":
        intervals[1] = 2
    elif color == "sus4":
        intervals[1] = 5
    if seventh:
        intervals.append(step(6))
    if color == "add9":
        intervals.append(14)
    root = (key_root + scale[degree % n]) % 12
    return Chord(root=root, intervals=tuple(intervals))


def scale_pitches(key_root: int, mode: str, low: int, high: int) -> np.ndarray:
    """All pitches of the scale in [low, high] (inclusive), ascending, int array."""
    pcs = {(key_root + s) % 12 for s in SCALES[mode]}
    return np.array([p for p in range(low, high + 1) if p % 12 in pcs], dtype=np.int64)


def chord_pitches(chord: Chord, low: int, high: int) -> np.ndarray:
    """All pitches in [low, high] whose pitch class is in the chord, ascending."""
    pcs = set(chord.pitch_classes)
    return np.array([p for p in range(low, high + 1) if p % 12 in pcs], dtype=np.int64)


def voicing(chord: Chord, center: int, n_notes: int) -> list[int]:
    """A close voicing of ``n_notes`` chord tones around ``center`` (MIDI pitch)."""
    base = chord.root + 12 * ((center - 6 - chord.root) // 12)
    notes = sorted({base + i for i in chord.intervals} | {base + 12 + i for i in chord.intervals})
    notes = [p for p in notes if center - 10 <= p <= center + 14]
    if len(notes) < n_notes:
        notes = sorted(set(notes) | {base + 24 + i for i in chord.intervals})
    # keep the n notes nearest the centre, always including a root if possible
    notes.sort(key=lambda p: abs(p - center))
    chosen = sorted(notes[:n_notes])
    return chosen


def nearest_in(pitches: np.ndarray, target: float) -> int:
    """The element of ``pitches`` nearest to ``target``."""
    return int(pitches[int(np.argmin(np.abs(pitches - target)))])


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray | float:
    """Equal temperament, A4 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


@dataclass(frozen=True)
class Grid:
    """Musical time to seconds: bars of ``beats_per_bar`` beats, 4 steps (16ths) a beat.

    ``swing`` delays the off-beat subdivision: with ``swing_unit`` 8 the second
    8th of every beat moves later by ``swing`` beats (1/6 gives triplet swing);
    with 16 the second 16th of every 8th moves by ``swing`` 8ths.
    """

    tempo_bpm: float
    beats_per_bar: int = 4
    swing: float = 0.0
    swing_unit: int = 16

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return self.beats_per_bar * self.beat_s

    @property
    def steps_per_bar(self) -> int:
        return 4 * self.beats_per_bar

    def _warp(self, frac: float) -> float:
        """Warp a position within one swing cell (0..1) by the swing amount."""
        a = self.swing
        if a <= 0.0:
            return frac
        if frac < 0.5:
            return frac * (1.0 + 2.0 * a)
        return 0.5 + a + (frac - 0.5) * (1.0 - 2.0 * a)

    def time(self, bar: float, step: float = 0.0) -> float:
        """Seconds at ``bar`` (may be fractional) plus ``step`` 16ths, swing applied."""
        steps = bar * self.steps_per_bar + step
        cell = 4.0 if self.swing_unit == 8 else 2.0  # steps in one swing cell
        n, frac = divmod(steps, cell)
        return (n + self._warp(frac / cell)) * cell * self.beat_s / 4.0
