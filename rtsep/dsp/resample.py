"""Streaming rational resampling with an exact, whole delay (the live path at any rate).

The live client runs the model at 44.1 kHz whatever the JACK server's rate. Its worker
resamples the input down to 44.1 kHz and the stems back up (:class:`StreamResampler`),
and reports the total latency *to the sample* at the server's rate. A library
resampler (soxr, used for files by :mod:`rtsep.io.decode`) cannot promise that: its
streaming delay is a buffering figure that is not a whole number of samples and is
large (measured with python-soxr 1.1.0, quality HQ: 629 samples at 44.1 kHz from
48 kHz, 700 at 48 kHz back, 30 ms in all). Here the delay is a design parameter:

- Both rates sit on one grid of ``G = lcm(rate_in, rate_out)`` ticks per second: input
  sample ``k`` at tick ``k * gi`` (``gi = G / rate_in``), output sample ``j`` at tick
  ``j * go``. Output ``j`` is the band-limited interpolation of the input at tick
  ``j * go - delay``: a windowed sinc of ``taps`` input samples, its phase one of
  ``gi`` precomputed rows (polyphase). ``delay`` is any whole number of ticks at least
  half the filter, so a chain of stages can be given the fractional delay that
  makes the total a whole number of samples (:func:`chain_delay`), at no cost.
- Output ``j`` needs input up to index ``floor((j * go - delay) / gi) + taps // 2``;
  with the smallest delay that is ``floor(j * go / gi)``: a stage buffers nothing
  beyond its filter, so output keeps pace with input to within a sample.

The filter (:func:`design`) is a Kaiser-windowed sinc centred on the lower rate's Nyquist
frequency: passband to :data:`PASSBAND_HZ` (in proportion below 44.1 kHz);
everything that would fold (down) or image (up) into the passband is at least
:data:`STOPBAND_DB` down, while the band between the passband and that Nyquist
frequency (inaudible, and above the stems' content) may take some of it. This halves
the filter against a stopband starting at Nyquist. The figures it reaches are
measured by ``benchmarks/resample.py`` and stated in the README.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

PASSBAND_HZ = 20000.0
"""Top of the passband when the lower rate is 44.1 kHz (the model's band: the stems
carry nothing of note above it)."""

STOPBAND_DB = 80.0
"""Stopband attenuation the Kaiser window is designed for."""

MAX_PHASES = 4096
"""Largest number of filter phases (input ticks per sample): rate pairs whose grid is
finer (e.g. 44,100 and 47,999 Hz) are refused."""


def grid(rate_in: int, rate_out: int) -> tuple[int, int, int]:
    """``(G, gi, go)``: ticks per second of the common grid, per input and per output sample."""
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_in} and {rate_out}")
    g = rate_in * rate_out // math.gcd(rate_in, rate_out)
    return g, g // rate_in, g // rate_out


def design(rate_in: int, rate_out: int, stopband_db: float = STOPBAND_DB) -> np.ndarray:
    """The polyphase filter from ``rate_in`` to ``rate_out``.

    Returns
    -------
    np.ndarray [shape=(gi, taps), dtype=float32]
        Row ``p`` weighs input samples ``i0 - taps//2 + 1 .. i0 + taps//2`` for an
        output ``p`` ticks after input sample ``i0``. Each row sums to 1 (DC passes at
        unit gain, whatever the phase).
    """
    _, gi, _ = grid(rate_in, rate_out)
    if gi > MAX_PHASES:
        raise ValueError(f"cannot resample {rate_in} Hz to {rate_out} Hz: their common grid "
                         f"needs {gi} filter phases (at most {MAX_PHASES}); use a standard rate "
                         "such as 44100, 48000, 88200 or 96000 Hz")
    low = min(rate_in, rate_out)
    f_pass = PASSBAND_HZ * min(1.0, low / 44100.0)
    # what would alias (down) or image (up) into the passband is in the stopband; the
    # band between the passband and the lower Nyquist frequency may take some
    f_stop = low - f_pass
    cutoff = 0.5 * (f_pass + f_stop) / rate_in  # cycles per input sample
    width = (f_stop - f_pass) / rate_in
    beta = 0.1102 * (stopband_db - 8.7) if stopband_db > 50 else 0.5842 * (stopband_db - 21) ** 0.4 \
        + 0.07886 * (stopband_db - 21)
    taps = int(math.ceil((stopband_db - 8.0) / (2.285 * 2 * math.pi * width)))
    taps += taps % 2  # even: as many samples on either side of the interpolation point
    half = taps // 2
    phases = np.arange(gi)[:, None] / gi  # fractional position after input i0
    t = np.arange(-half + 1, half + 1)[None, :] - phases  # tap offset - position
    window = np.kaiser(2 * half * gi + 1, beta)
    # the window evaluated at the same continuous offsets (centre = index half * gi)
    idx = np.round((t + half) * gi).astype(np.int64)
    idx = np.clip(idx, 0, len(window) - 1)
    h = 2 * cutoff * np.sinc(2 * cutoff * t) * window[idx]
    h /= h.sum(axis=1, keepdims=True)
    return h.astype(np.float32)


@njit(nogil=True, cache=True, fastmath=True)
def _run(hist, n_hist, base, h, gi, go, t_next, out, n_max):  # pragma: no cover - compiled
    """Outputs from the history: returns ``(count, t_next)``.

    hist : (C, H) input, column 0 = input index ``base``; n_hist columns valid
    h : (gi, taps); t_next : tick of the next output's interpolation point
    out : (C, >= n_max)
    """
    taps = h.shape[1]
    half = taps // 2
    n_ch = hist.shape[0]
    count = 0
    while count < n_max:
        i0 = t_next // gi  # floor (t_next may be negative at the start)
        p = t_next - i0 * gi
        first = i0 - half + 1 - base
        if first + taps > n_hist:
            break
        for c in range(n_ch):
            acc = np.float32(0.0)
            for k in range(taps):
                acc += h[p, k] * hist[c, first + k]
            out[c, count] = acc
        count += 1
        t_next += go
    return count, t_next


class StreamResampler:
    """One streaming stage from ``rate_in`` to ``rate_out`` for ``channels`` channels.

    Parameters
    ----------
    rate_in, rate_out : int
    channels : int
    chunk_max : int
        Most input frames one :meth:`process` call is given.
    delay_ticks : int, optional
        Ticks of the grid between an input sample and the output that carries it
        (default and minimum: :attr:`min_delay_ticks`, half the filter).

    Attributes
    ----------
    delay_ticks : int
    delay_seconds : float
    out_max : int
        Most output frames one call can return (size ``out`` by it).
    """

    def __init__(self, rate_in: int, rate_out: int, channels: int, chunk_max: int,
                 delay_ticks: int | None = None):
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.ticks_per_s, self.gi, self.go = grid(rate_in, rate_out)
        self.h = design(rate_in, rate_out)
        self.taps = self.h.shape[1]
        self.min_delay_ticks = (self.taps // 2) * self.gi
        if delay_ticks is None:
            delay_ticks = self.min_delay_ticks
        if delay_ticks < self.min_delay_ticks:
            raise ValueError(f"delay {delay_ticks} ticks is less than half the filter "
                             f"({self.min_delay_ticks})")
        self.delay_ticks = int(delay_ticks)
        self.delay_seconds = self.delay_ticks / self.ticks_per_s
        self.channels = int(channels)
        self.chunk_max = int(chunk_max)
        self.out_max = self.chunk_max * self.gi // self.go + 2
        self._hist = np.zeros((self.channels, self.taps + self.chunk_max), np.float32)
        self.reset()

    def reset(self) -> None:
        """Start a new stream: silence before its first sample."""
        self._hist[:] = 0.0
        self._n = self.taps  # valid columns: the zeros before the stream
        self._base = -self.taps
        self._t = -self.delay_ticks

    def process(self, x: np.ndarray, n: int, out: np.ndarray) -> int:
        """Feed ``n`` input frames, write the outputs they complete.

        Parameters
        ----------
        x : np.ndarray [shape=(channels, >= n), dtype=float32]
            Channel-major input.
        n : int
            Frames of ``x`` to take (<= ``chunk_max``).
        out : np.ndarray [shape=(channels, >= out_max), dtype=float32]

        Returns
        -------
        int
            Output frames written to ``out[:, :count]``.
        """
        if n > self.chunk_max:
            raise ValueError(f"chunk of {n} frames is larger than chunk_max {self.chunk_max}")
        hist = self._hist
        hist[:, self._n:self._n + n] = x[:, :n]
        self._n += n
        count, self._t = _run(hist, self._n, self._base, self.h, self.gi, self.go, self._t,
                              out, out.shape[1])
        # keep what the next outputs can still need: from the first tap of the next one
        keep_from = self._t // self.gi - self.taps // 2 + 1 - self._base
        keep_from = max(0, min(keep_from, self._n))
        if keep_from:
            left = self._n - keep_from
            hist[:, :left] = hist[:, keep_from:self._n]
            self._n = left
            self._base += keep_from
        return count


def chain_delay(rate: int, inner_delay: int, inner_rate: int, down_ticks: int,
                up_min_ticks: int) -> tuple[int, int]:
    """The up stage's delay that makes a down-inner-up chain a whole number of samples.

    Parameters
    ----------
    rate : int
        The outer rate (the server's).
    inner_delay : int
        The inner stage's delay in samples at ``inner_rate`` (the engine's latency).
    down_ticks, up_min_ticks : int
        Delays of the two resampling stages in ticks of ``lcm(rate, inner_rate)``
        (the down stage's, and the least the up stage can have).

    Returns
    -------
    (up_ticks, total_samples)
        The up stage's delay in ticks (>= ``up_min_ticks``, less than one outer sample
        more), and the chain's total delay in outer samples, exact.
    """
    g, g_outer, g_inner = grid(rate, inner_rate)
    ticks = down_ticks + inner_delay * g_inner + up_min_ticks
    extra = (-ticks) % g_outer
    return up_min_ticks + extra, (ticks + extra) // g_outer


__all__ = ["MAX_PHASES", "PASSBAND_HZ", "STOPBAND_DB", "StreamResampler", "chain_delay",
           "design", "grid"]
