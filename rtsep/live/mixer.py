"""Live outputs after the engine: per-output gain, mute and solo with ramps; the ``main``
pair (the input, delayed by exactly the reported latency) and the ``mix`` bus.

Outputs (:data:`LIVE_OUTPUTS`, each a stereo pair of JACK ports ``NAME_L``/``NAME_R``):
the engine's vocals, drums, bass, other and instrumental; ``main``, the unprocessed
input delayed by the engine's latency (then by the ring's, like every output: so it is
the input delayed by the reported latency, bit for bit at unit gain); and ``mix``, the
sum of the four stems after their gains and mutes (the karaoke output with the vocals
fader in it). *Solo* decides what the mix bus hears: when any stem is soloed, only
soloed stems; mute silences an output's own pair and removes a stem from the mix.

The control state (:class:`Controls`) lives in the shared block as float64 rows
``(gain dB, mute, solo)`` per output plus a sequence number; the client's control
threads (OSC, MIDI, the terminal mixer) write it under a lock of their own, the worker
only reads it when the sequence number changed: no lock on the real-time side.

Gain changes are applied with a linear ramp of :data:`RAMP_S` (10 ms) per output, so
moving a fader never clicks or zips. The worker's :class:`Mixer` allocates nothing per
hop and meters every output (peak with a 300 ms release, RMS over ~50 ms) into the
shared block for the control surfaces.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from rtsep.constants import N_CHANNELS, N_STEMS, OUTPUTS, SAMPLE_RATE

LIVE_OUTPUTS = OUTPUTS + ("main", "mix")
"""The live client's output pairs, in port order."""
N_LIVE = len(LIVE_OUTPUTS)
MAIN, MIX = LIVE_OUTPUTS.index("main"), LIVE_OUTPUTS.index("mix")

GAIN, MUTE, SOLO = 0, 1, 2
"""Columns of a control row."""
CONTROL_FIELDS = 3
MIN_DB = -120.0
"""Gains at or below this are silence."""
MAX_DB = 24.0
"""Highest gain a control accepts."""

RAMP_S = 0.010
"""Length of a gain ramp: a change reaches its target linearly over 441 samples."""
RMS_S = 0.050
"""Time constant of the RMS meter."""
PEAK_RELEASE_S = 0.300
"""Time constant of the peak meter's release."""


def db_to_gain(db: float) -> float:
    return 0.0 if db <= MIN_DB else 10.0 ** (db / 20.0)


def level_db(x: float) -> float:
    """dBFS of a linear level (-inf for 0 -> MIN_DB)."""
    return 20.0 * math.log10(x) if x > 10.0 ** (MIN_DB / 20.0) else MIN_DB


class Controls:
    """Gain (dB), mute and solo of every live output, in shared memory.

    Parameters
    ----------
    table : np.ndarray [shape=(N_LIVE, 3), dtype=float64]
        The rows (gain dB, mute, solo), in :data:`LIVE_OUTPUTS` order.
    seq : np.ndarray [shape=(1,), dtype=int64]
        Bumped after every change (the worker re-reads the table when it moves).
    """

    def __init__(self, table: np.ndarray, seq: np.ndarray):
        self.table, self.seq = table, seq
        self._lock = threading.Lock()

    def set(self, output: str, field: str, value) -> None:
        """Set ``gain`` (dB, clipped to [MIN_DB, MAX_DB]), ``mute`` or ``solo`` (bool)
        of ``output``; raises ValueError for an unknown output, field or bad value."""
        if output not in LIVE_OUTPUTS:
            raise ValueError(f"unknown output {output!r}; one of {', '.join(LIVE_OUTPUTS)}")
        col = {"gain": GAIN, "mute": MUTE, "solo": SOLO}.get(field)
        if col is None:
            raise ValueError(f"unknown control {field!r}; gain, mute or solo")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{output}/{field}: not a finite number: {value!r}")
        v = min(max(v, MIN_DB), MAX_DB) if col == GAIN else float(v != 0)
        with self._lock:
            self.table[LIVE_OUTPUTS.index(output), col] = v
            self.seq[0] += 1

    def get(self, output: str) -> dict:
        row = self.table[LIVE_OUTPUTS.index(output)]
        return {"gain": float(row[GAIN]), "mute": bool(row[MUTE]), "solo": bool(row[SOLO])}

    def set_gains(self, gains) -> None:
        """Linear gains in :data:`LIVE_OUTPUTS` order (the ``--gain`` options)."""
        for name, g in zip(LIVE_OUTPUTS, gains):
            self.set(name, "gain", MIN_DB if g <= 0 else 20.0 * math.log10(g))


def targets(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear gains a control table asks for.

    Returns
    -------
    port : np.ndarray [shape=(N_LIVE,), dtype=float32]
        Gain of each output's own pair (0 when muted).
    bus : np.ndarray [shape=(N_STEMS,), dtype=float32]
        Gain of each stem on the mix bus (its port gain; 0 unless soloed when any stem
        is soloed).
    """
    port = np.array([0.0 if table[i, MUTE] else db_to_gain(table[i, GAIN]) for i in range(N_LIVE)],
                    np.float32)
    solo = table[:N_STEMS, SOLO] != 0
    bus = port[:N_STEMS] * (solo if solo.any() else np.ones(N_STEMS, bool))
    return port, bus.astype(np.float32)


class Mixer:
    """The worker's last stage: engine outputs + delayed input -> the 14 ring channels.

    Parameters
    ----------
    delay : int
        The engine's latency in samples (``main`` is the input delayed by it).
    controls : Controls
    chunk_max : int
        Largest chunk :meth:`process` is given (output frames, and input frames).
    meters : np.ndarray [shape=(N_LIVE, 2), dtype=float64], optional
        Written with each output's (peak, RMS) as linear levels.
    rate : int
        The sample rate it runs at (ramps and meters are in seconds): the server's.

    Attributes
    ----------
    out_cm : np.ndarray [shape=(2 * N_LIVE, chunk_max), dtype=float32]
        The last chunk, channel-major as the output ring stores it.
    """

    def __init__(self, delay: int, controls: Controls, chunk_max: int, meters=None,
                 rate: int = SAMPLE_RATE):
        self.controls = controls
        self.meters = meters
        self.rate = int(rate)
        self._d = int(delay)
        # main's delay: input is written at _w, main read at _r, ``delay`` behind in the
        # stream (input and output counts of a chunk may differ when resampling)
        self._ring = np.zeros((N_CHANNELS, self._d + 2 * chunk_max + 8), np.float32)
        self._w = 0
        self._r = -self._d % self._ring.shape[1]
        self.out_cm = np.zeros((2 * N_LIVE, chunk_max), np.float32)
        self._k = np.arange(1, chunk_max + 1, dtype=np.float32)  # samples into the chunk
        self._g = np.zeros((N_LIVE + N_STEMS, chunk_max), np.float32)  # per-sample gains
        self._tmp = np.zeros((N_CHANNELS, chunk_max), np.float32)
        self._cur = np.zeros(N_LIVE + N_STEMS, np.float32)
        self._tgt = np.zeros(N_LIVE + N_STEMS, np.float32)
        self._step = np.zeros(N_LIVE + N_STEMS, np.float32)  # gain change per sample
        self._seq = -1
        self._follow_controls(jump=True)
        self._peak = np.zeros(N_LIVE)
        self._ms = np.zeros(N_LIVE)

    def reset(self) -> None:
        """Forget the delayed input (the engine restarted: its audio is gone too); the
        next output frame is the next input frame's stream position."""
        self._ring[:] = 0.0
        self._r = (self._w - self._d) % self._ring.shape[1]

    def _follow_controls(self, jump: bool = False) -> None:
        seq = int(self.controls.seq[0])
        if seq == self._seq:
            return
        self._seq = seq
        port, bus = targets(self.controls.table)
        self._tgt[:N_LIVE], self._tgt[N_LIVE:] = port, bus
        if jump:
            self._cur[:] = self._tgt
        # a new ramp from where each gain is now: the whole change in RAMP_S
        self._step[:] = (self._tgt - self._cur) / np.float32(RAMP_S * self.rate)

    def _gains(self, n: int) -> np.ndarray:
        """Per-sample gains of the chunk: ramps toward the targets (no allocation)."""
        g = self._g
        for i in range(N_LIVE + N_STEMS):
            cur, tgt = float(self._cur[i]), float(self._tgt[i])
            if cur == tgt:
                g[i, :n] = cur
                continue
            # linear toward the target at the step set when it changed (the whole
            # change takes RAMP_S, across chunks), then the target
            np.multiply(self._k[:n], self._step[i], out=g[i, :n])
            g[i, :n] += cur
            if tgt > cur:
                np.minimum(g[i, :n], tgt, out=g[i, :n])
            else:
                np.maximum(g[i, :n], tgt, out=g[i, :n])
            self._cur[i] = g[i, n - 1]
        return g

    def _delayed_input(self, block: np.ndarray, n_in: int, n: int) -> None:
        """The chunk's ``n_in`` input frames into main's delay ring; ``n`` frames of the
        input of ``delay`` samples before them (in the stream) into the main pair."""
        size = self._ring.shape[1]
        oc = self.out_cm
        for c in range(N_CHANNELS):
            _ring_write(self._ring[c], self._w, block[:n_in, c])
            _ring_read(self._ring[c], self._r, oc[2 * MAIN + c, :n])
        self._w = (self._w + n_in) % size
        self._r = (self._r + n) % size

    def process(self, out: np.ndarray, block: np.ndarray, n: int) -> np.ndarray:
        """One chunk.

        Parameters
        ----------
        out : np.ndarray [shape=(5, >= n, 2), dtype=float32]
            The engine's outputs for the chunk (OUTPUTS order).
        block : np.ndarray [shape=(>= n, 2), dtype=float32]
            The chunk's input (the engine's input).
        n : int

        Returns
        -------
        np.ndarray [shape=(14, chunk_max), dtype=float32]
            :attr:`out_cm`, first ``n`` columns valid.
        """
        oc = self.out_cm
        for j in range(len(OUTPUTS)):
            for c in range(N_CHANNELS):
                oc[2 * j + c, :n] = out[j, :n, c]
        return self._mix(block, n, n)

    def process_stems(self, block: np.ndarray, n_in: int, n: int) -> np.ndarray:
        """One chunk whose four stems are already in :attr:`out_cm` (rows 0-7, written
        there by :class:`rtsep.live.rate.RateBridge`); the instrumental is made here as
        the sum of drums, bass and other.

        Parameters
        ----------
        block : np.ndarray [shape=(>= n_in, 2), dtype=float32]
            The chunk's input.
        n_in : int
            Input frames of the chunk.
        n : int
            Output frames of the chunk (stems in ``out_cm[:8, :n]``).

        Returns
        -------
        np.ndarray [shape=(14, chunk_max), dtype=float32]
            :attr:`out_cm`, first ``n`` columns valid.
        """
        oc = self.out_cm
        ins = OUTPUTS.index("instrumental")
        acc = oc[2 * ins:2 * ins + 2, :n]
        np.add(oc[2:4, :n], oc[4:6, :n], out=acc)
        acc += oc[6:8, :n]
        return self._mix(block, n_in, n)

    def _mix(self, block: np.ndarray, n_in: int, n: int) -> np.ndarray:
        """Gains, main and the mix bus on the outputs loaded into :attr:`out_cm`."""
        self._follow_controls()
        g = self._gains(n)
        oc, tmp = self.out_cm, self._tmp[:, :n]
        self._delayed_input(block, n_in, n)
        # the mix bus: the stems at their bus gains (before their own pair's gain)
        mix = oc[2 * MIX:2 * MIX + 2, :n]
        mix[:] = 0.0
        for j in range(N_STEMS):
            np.multiply(oc[2 * j:2 * j + 2, :n], g[N_LIVE + j, :n], out=tmp)
            mix += tmp
        for i in range(N_LIVE):
            oc[2 * i:2 * i + 2, :n] *= g[i, :n]
        if self.meters is not None:
            self._meter(n)
        return oc

    def _meter(self, n: int) -> None:
        a_rms = math.exp(-n / (RMS_S * self.rate))
        a_peak = math.exp(-n / (PEAK_RELEASE_S * self.rate))
        oc = self.out_cm
        for i in range(N_LIVE):
            peak = ms = 0.0
            for c in (2 * i, 2 * i + 1):
                x = oc[c, :n]
                peak = max(peak, float(x.max()), -float(x.min()))
                ms += float(np.dot(x, x)) / (2 * n)
            self._peak[i] = max(peak, self._peak[i] * a_peak)
            self._ms[i] = a_rms * self._ms[i] + (1 - a_rms) * ms
            self.meters[i, 0] = self._peak[i]
            self.meters[i, 1] = math.sqrt(self._ms[i])


def _ring_write(ring: np.ndarray, w: int, x: np.ndarray) -> None:
    k = min(len(x), len(ring) - w)
    ring[w:w + k] = x[:k]
    ring[:len(x) - k] = x[k:]


def _ring_read(ring: np.ndarray, r: int, dst: np.ndarray) -> None:
    k = min(len(dst), len(ring) - r)
    dst[:k] = ring[r:r + k]
    dst[k:] = ring[:len(dst) - k]


__all__ = ["LIVE_OUTPUTS", "N_LIVE", "RAMP_S", "Controls", "Mixer", "db_to_gain", "level_db",
           "targets"]
