"""The worker at a server rate other than the model's: resample around the engine.

The models and the engine run at 44.1 kHz (:data:`rtsep.constants.SAMPLE_RATE`). At any
other JACK server rate the worker's :class:`RateBridge` resamples each input chunk down
to 44.1 kHz, runs the engine, and resamples the four stems back up
(:class:`rtsep.dsp.resample.StreamResampler`); the instrumental is the sum of the three
accompaniment stems at the server's rate (as the engine makes it at 44.1 kHz), and
:class:`rtsep.live.mixer.Mixer` builds ``main`` and ``mix`` from the server-rate input
and stems, so ``main`` stays the input delayed bit for bit.

Latency: the down stage delays by half its filter, the engine by ``D`` samples at
44.1 kHz, the up stage by half its filter plus a fraction of a server sample chosen so
that the sum is a whole number of server samples (:func:`rtsep.dsp.resample.chain_delay`):
:attr:`RateBridge.latency` is exact, and the live client reports
``latency + P + R`` as at 44.1 kHz. Neither stage buffers more than its filter, so a
chunk's output count differs from its input count by at most a sample or two (the
reserve covers it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rtsep.constants import N_CHANNELS, N_OUTPUTS, N_STEMS, SAMPLE_RATE
from rtsep.dsp.resample import StreamResampler, chain_delay, grid


@njit(nogil=True, cache=True)
def _to_channels(block, n, x_cm):  # pragma: no cover - compiled
    """``block[:n]`` (n, C) -> ``x_cm[:, :n]`` with NaN/Inf replaced by 0; returns how many."""
    bad = 0
    for i in range(n):
        for c in range(block.shape[1]):
            v = block[i, c]
            if np.isfinite(v):
                x_cm[c, i] = v
            else:
                x_cm[c, i] = 0.0
                bad += 1
    return bad


@njit(nogil=True, cache=True)
def _to_frames(x_cm, n, block):  # pragma: no cover - compiled
    """``x_cm[:, :n]`` (C, n) -> ``block[:n]`` (n, C)."""
    for i in range(n):
        for c in range(x_cm.shape[0]):
            block[i, c] = x_cm[c, i]


@njit(nogil=True, cache=True)
def _stems_to_channels(out, n, dst):  # pragma: no cover - compiled
    """The four stems of the engine's ``out[:, :n]`` (5, n, 2) -> ``dst[:8, :n]``."""
    for s in range(dst.shape[0] // 2):
        for i in range(n):
            dst[2 * s, i] = out[s, i, 0]
            dst[2 * s + 1, i] = out[s, i, 1]


def supported(rate: int) -> str | None:
    """Why the live path cannot run at ``rate`` Hz, or None when it can."""
    try:
        rate = int(rate)
        _, gi_down, _ = grid(rate, SAMPLE_RATE)
        _, gi_up, _ = grid(SAMPLE_RATE, rate)
    except (TypeError, ValueError) as exc:
        return str(exc)
    from rtsep.dsp.resample import MAX_PHASES

    if rate < 8000 or rate > 384000:
        return f"{rate} Hz is outside 8,000-384,000 Hz"
    if max(gi_down, gi_up) > MAX_PHASES:
        return (f"{rate} Hz and the models' {SAMPLE_RATE} Hz have no common grid fine enough "
                "for an exact latency; use a standard rate such as 44100, 48000, 88200 or 96000 Hz")
    return None


class RateBridge:
    """Server-rate chunks through the 44.1 kHz engine: resamplers and their buffers.

    Parameters
    ----------
    rate : int
        The server's sample rate (not 44,100: then no bridge is needed).
    engine_latency : int
        The engine's latency ``D`` in samples at 44.1 kHz.
    chunk_max : int
        Most server frames one :meth:`process` call is given.

    Attributes
    ----------
    latency : int
        Server samples from an input sample to the output that carries it (exact).
    out_max : int
        Most server frames one call returns.
    nonfinite : int
        NaN/Inf input samples replaced by 0 so far (before the down stage, so that one
        bad sample does not smear over a filter's length).
    """

    def __init__(self, rate: int, engine_latency: int, chunk_max: int):
        why = supported(rate)
        if why:
            raise ValueError(why)
        self.rate = int(rate)
        self.down = StreamResampler(rate, SAMPLE_RATE, N_CHANNELS, chunk_max)
        m = self.down.out_max
        up = StreamResampler(SAMPLE_RATE, rate, 2 * N_STEMS, m)
        ticks, self.latency = chain_delay(rate, engine_latency, SAMPLE_RATE,
                                          self.down.delay_ticks, up.min_delay_ticks)
        self.up = StreamResampler(SAMPLE_RATE, rate, 2 * N_STEMS, m, delay_ticks=ticks)
        self.out_max = self.up.out_max
        self.chunk_max = int(chunk_max)
        self._x = np.zeros((N_CHANNELS, chunk_max), np.float32)
        self._y = np.zeros((N_CHANNELS, m), np.float32)
        self._block = np.zeros((m, N_CHANNELS), np.float32)
        self._eng = np.zeros((N_OUTPUTS, m, N_CHANNELS), np.float32)
        self._stems = np.zeros((2 * N_STEMS, m), np.float32)
        self.nonfinite = 0

    def reset(self) -> None:
        """A new stream (the engine restarts with it)."""
        self.down.reset()
        self.up.reset()

    def process(self, engine, block: np.ndarray, n: int, out_cm: np.ndarray) -> int:
        """``block[:n]`` at the server rate -> the four stems at the server rate.

        Parameters
        ----------
        engine : rtsep.engine.StreamingSeparator
        block : np.ndarray [shape=(>= n, 2), dtype=float32]
        n : int
        out_cm : np.ndarray [shape=(8, >= out_max), dtype=float32]
            The stems' L/R rows (vocals, drums, bass, other), channel-major.

        Returns
        -------
        int
            Server frames written to ``out_cm``.
        """
        self.nonfinite += _to_channels(block, n, self._x)
        m = self.down.process(self._x, n, self._y)
        if m == 0:
            return self.up.process(self._stems, 0, out_cm)
        _to_frames(self._y, m, self._block)
        eng = self._eng[:, :m]
        engine.process(self._block[:m], out=eng)
        _stems_to_channels(eng, m, self._stems)
        return self.up.process(self._stems, m, out_cm)


def through_worker(engine, x: np.ndarray, rate: int, period: int = 256) -> np.ndarray:
    """What the live worker makes of a signal at server rate ``rate``, without JACK.

    ``x`` (at ``rate``) goes through :class:`rtsep.live.plan.Buffers` (resamplers,
    engine, mixer) in ``period``-frame chunks, as the worker's loop feeds it; the
    outputs are aligned with ``x`` by the exact latency. For tests and benchmarks
    (e.g. the SDR at 48 kHz against 44.1 kHz on the same song).

    Parameters
    ----------
    engine : rtsep.engine.StreamingSeparator
        Reset first.
    x : np.ndarray [shape=(n, 2), dtype=float32]
    rate : int
    period : int

    Returns
    -------
    np.ndarray [shape=(5, n, 2), dtype=float32]
        vocals, drums, bass, other, instrumental at ``rate``.
    """
    from rtsep.live.plan import Buffers

    engine.reset()
    bufs = Buffers(engine.latency_samples, rate=rate)
    n = x.shape[0]
    total = n + bufs.latency + period
    src = np.zeros((total, N_CHANNELS), np.float32)
    src[:n] = x
    out = np.zeros((N_OUTPUTS, total + bufs.out_max, N_CHANNELS), np.float32)
    w = 0
    for i in range(0, total, period):
        k = min(period, total - i)
        bufs.block[:k] = src[i:i + k]
        cm, m = bufs.process(engine, k)
        out[:, w:w + m] = cm[:2 * N_OUTPUTS, :m].reshape(N_OUTPUTS, N_CHANNELS, m).transpose(0, 2, 1)
        w += m
    return out[:, bufs.latency:bufs.latency + n].copy()


__all__ = ["RateBridge", "supported", "through_worker"]
