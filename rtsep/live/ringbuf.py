"""Single-producer/single-consumer sample rings with absolute positions.

The live client moves audio between JACK's process callback and the separation
worker through two rings:

- the **input ring** (callback writes, worker reads): :meth:`SampleRing.push` never
  blocks; when the ring is full it writes nothing and counts the frames as *lost*
  (the worker notices and re-synchronises);
- the **output ring** (worker writes, callback reads): :meth:`SampleRing.pop`
  always advances the read position by the block length, even when fewer frames
  were written (an *underrun*: the missing frames are zeros). Frames the worker
  writes for positions the reader has already passed are dropped
  (:meth:`SampleRing.write`). Output position ``p`` therefore always belongs to
  the same input sample, and the stream keeps its latency through underruns.

Positions are absolute int64 frame counts (they never wrap); frame ``p`` lives in
column ``p % capacity``. The header and the data are plain numpy arrays, so a ring
can live in ordinary memory (worker thread) or in a shared-memory block (worker
process). Each position has exactly one writer. Publication order (data first,
then the position) is what x86-64's total store order guarantees; on weakly
ordered CPUs (ARM) this relies on the GIL's/syscalls' barriers between the
processes' accesses and is not formally safe.

Layout of the data: ``(channels, capacity)`` float32, so each channel (a JACK port)
is contiguous.

The copy kernels (:func:`copy_in`, :func:`copy_out`) and the position logic
(:func:`push_begin`, :func:`pop_begin`) are Numba functions shared by the Python
methods below and by the live client's native process callback
(:mod:`rtsep.live.jack.callback`), so both sides of a ring follow one implementation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_W, _R, _LOST = 0, 8, 16  # header slots, one 64-byte cache line apart
WRITE_POS, READ_POS = _W, _R
"""Header slots of the write and read positions (for :mod:`rtsep.live.jack.callback`)."""
HEADER_WORDS = 24


@njit(nogil=True, cache=True)
def push_begin(header, capacity, n):
    """Position to write ``n`` frames at, or -1 (ring full: ``n`` frames counted lost).

    header : int64 (24,); capacity, n : int
    """
    w = header[_W]
    if w + n - header[_R] > capacity:
        header[_LOST] += n
        return -1
    return w


@njit(nogil=True, cache=True)
def pop_begin(header, n):
    """``(r, m)``: the read position and how many of the next ``n`` frames were written."""
    r = header[_R]
    m = header[_W] - r
    if m > n:
        m = n
    elif m < 0:
        m = 0
    return r, m


@njit(nogil=True, cache=True)
def copy_in(data, c, pos, src, n):
    """``src[:n]`` -> channel ``c`` of ``data`` (channels, capacity) from absolute ``pos``.

    Plain loops: no array temporaries, so it allocates nothing (real-time safe).
    """
    cap = data.shape[1]
    i = pos % cap
    for j in range(n):
        data[c, i] = src[j]
        i += 1
        if i == cap:
            i = 0


@njit(nogil=True, cache=True)
def copy_out(data, c, pos, dst, m, n):
    """Channel ``c`` of ``data`` from absolute ``pos``: ``m`` frames -> ``dst[:m]``; zeros in ``dst[m:n]``."""
    cap = data.shape[1]
    i = pos % cap
    for j in range(m):
        dst[j] = data[c, i]
        i += 1
        if i == cap:
            i = 0
    for j in range(m, n):
        dst[j] = 0.0


class SampleRing:
    """A ring of ``channels`` float32 signals.

    Parameters
    ----------
    channels : int
    capacity : int
        Frames the ring holds.
    buffer : writable buffer, optional
        Memory for the ring (``nbytes(channels, capacity)`` bytes, e.g. a
        ``SharedMemory.buf`` slice); zeroed memory of its own when omitted.
    init : bool
        Zero the header and data (the creator does; an attaching process does not).

    Attributes
    ----------
    data : np.ndarray [shape=(channels, capacity), dtype=float32]
    header : np.ndarray [shape=(24,), dtype=int64]
    """

    def __init__(self, channels: int, capacity: int, buffer=None, *, init: bool = True):
        self.channels = int(channels)
        self.capacity = int(capacity)
        if buffer is None:
            buffer = bytearray(self.nbytes(channels, capacity))
        self.header = np.frombuffer(buffer, np.int64, HEADER_WORDS, 0)
        self.data = np.frombuffer(buffer, np.float32, self.channels * self.capacity,
                                  HEADER_WORDS * 8).reshape(self.channels, self.capacity)
        if init:
            self.header[:] = 0
            self.data[:] = 0

    @staticmethod
    def nbytes(channels: int, capacity: int) -> int:
        """Bytes of memory a ring of this size needs."""
        return HEADER_WORDS * 8 + 4 * int(channels) * int(capacity)

    # -- positions ---------------------------------------------------------------------
    @property
    def write_pos(self) -> int:
        return int(self.header[_W])

    @property
    def read_pos(self) -> int:
        return int(self.header[_R])

    @property
    def lost(self) -> int:
        """Frames :meth:`push` could not store (the ring was full)."""
        return int(self.header[_LOST])

    def available(self) -> int:
        """Frames written and not yet read (negative after the reader passed the writer)."""
        return int(self.header[_W]) - int(self.header[_R])

    # -- producer side -----------------------------------------------------------------
    def push(self, signals, n: int) -> bool:
        """Append ``n`` frames, one 1-D array per channel; never blocks (real-time safe).

        Parameters
        ----------
        signals : sequence of np.ndarray [shape=(>= n,), dtype=float32]
            One per channel (e.g. JACK port buffers).
        n : int

        Returns
        -------
        bool
            False when the ring had no room: nothing was written and ``n`` frames
            were added to :attr:`lost`.
        """
        w = push_begin(self.header, self.capacity, n)
        if w < 0:
            return False
        for c in range(self.channels):
            copy_in(self.data, c, w, signals[c], n)
        self.header[_W] = w + n
        return True

    def write(self, block: np.ndarray | None, n: int) -> int:
        """Append ``n`` frames at the write position; drop those the reader passed.

        Parameters
        ----------
        block : np.ndarray [shape=(channels, >= n), dtype=float32] or None
            None writes silence.
        n : int

        Returns
        -------
        int
            Frames dropped because the reader had already passed their position.

        Raises
        ------
        BufferError
            The ring has no room for them (the caller must wait for the reader).
        """
        h = self.header
        w = int(h[_W])
        r = int(h[_R])
        if w + n - r > self.capacity:
            raise BufferError(f"ring full: {w + n - r} > {self.capacity} frames")
        skip = min(max(r - w, 0), n)
        m = n - skip
        if m:
            i = (w + skip) % self.capacity
            k = min(m, self.capacity - i)
            d = self.data
            if block is None:
                d[:, i:i + k] = 0.0
                if k < m:
                    d[:, :m - k] = 0.0
            else:
                d[:, i:i + k] = block[:, skip:skip + k]
                if k < m:
                    d[:, :m - k] = block[:, skip + k:n]
        h[_W] = w + n
        return skip

    def space(self) -> int:
        """Frames :meth:`write` can take now."""
        return self.capacity - (int(self.header[_W]) - int(self.header[_R]))

    # -- consumer side -----------------------------------------------------------------
    def pop(self, signals, n: int) -> int:
        """Read ``n`` frames into one 1-D array per channel; always advances by ``n``.

        Missing frames (an underrun) are zeros. Real-time safe.

        Parameters
        ----------
        signals : sequence of np.ndarray [shape=(>= n,), dtype=float32]
        n : int

        Returns
        -------
        int
            Frames that were missing (0 when the block was complete).
        """
        r, m = pop_begin(self.header, n)
        for c in range(self.channels):
            copy_out(self.data, c, r, signals[c], m, n)
        self.header[_R] = r + n
        return n - m

    def read(self, out: np.ndarray, n: int) -> None:
        """Read ``n`` available frames into ``out`` (frames, channels) and advance.

        Parameters
        ----------
        out : np.ndarray [shape=(>= n, channels), dtype=float32]
        n : int
            At most :meth:`available`.
        """
        h = self.header
        r = int(h[_R])
        if n > int(h[_W]) - r:
            raise ValueError(f"only {int(h[_W]) - r} frames available, asked for {n}")
        i = r % self.capacity
        k = min(n, self.capacity - i)
        out[:k] = self.data[:, i:i + k].T
        if k < n:
            out[k:n] = self.data[:, :n - k].T
        h[_R] = r + n

    def skip(self, n: int) -> None:
        """Advance the read position by ``n`` frames without reading them."""
        self.header[_R] += n
