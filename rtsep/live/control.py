"""The memory the live client's three actors share, laid out once.

The JACK process callback (native code, :mod:`rtsep.live.jack.callback`), the worker
(thread or process, :mod:`rtsep.live.worker`) and the client's main thread
(:mod:`rtsep.live.client`) share one block: the control words (:class:`Word`), the
worker's hop-time history, and the two sample rings (:mod:`rtsep.live.ringbuf`). For a
worker thread the block is plain memory; for a worker process it is a
``multiprocessing.shared_memory`` block the worker attaches to by name.
"""

from __future__ import annotations

import enum

import numpy as np

from rtsep.constants import N_CHANNELS
from rtsep.live.mixer import CONTROL_FIELDS, N_LIVE, Controls
from rtsep.live.ringbuf import HEADER_WORDS, SampleRing


class Word(enum.IntEnum):
    """The control words (int64), by index. Each has exactly one writer, named below."""

    STATE = 0          # worker: a WorkerState
    STOP = 1           # main: 1 = the worker must stop
    CYCLES = 2         # callback: process cycles run
    UNDERRUNS = 3      # callback: cycles with missing output frames
    MISSING = 4        # callback: output frames that were missing (played as silence)
    PERIOD = 5         # main (blocksize callback): current period (frames)
    CB_MAX = 6         # callback: max frames since cycle start at the callback's end
    CB_SLOW = 7        # callback: cycles ending later than half the period
    XRUNS = 8          # main (xrun callback, JACK's notification thread)
    PREFILL = 9        # worker: P + R in effect (frames)
    PREFILL_REQ = 10   # main (blocksize callback): prefill wanted (frames)
    HOPS = 11          # worker: model calls since start
    BUSY_NS = 12       # worker: time inside engine.process
    FED = 13           # worker: input frames fed to the engine
    SKIPPED = 14       # worker: input frames dropped to re-lock (or lost)
    DROPPED = 15       # worker: output frames written too late (dropped)
    NONFINITE = 16     # worker: NaN/Inf input samples replaced by 0
    HIST_N = 17        # worker: hop times written to the history
    ENGINE_LAT = 18    # worker: D, the engine's latency (samples)
    FRAMES_MAX = 19    # worker: largest chunk fed
    FIRST_FRAME = 20   # callback: JACK frame time of the first cycle (engine sample 0)
    HEARTBEAT = 21     # worker: loop iterations (the client watches it for a hung worker)
    RESTARTS = 22      # main: workers started again after one died or hung
    CONTROL_SEQ = 23   # main (control threads, under a lock): bumped after a control change
    RATE = 24          # main: the server's sample rate (Hz) the worker must run at
    RATE_CHANGES = 25  # worker: server rate changes followed
    RUN_NS = 26        # LV2 plugin (rtsep.bridge): time spent in run() (ns)
    RUN_NS_MAX = 27    # LV2 plugin: longest run() (ns)


N_WORDS = 32
"""Length of the control array (room for more words)."""


class WorkerState(enum.IntEnum):
    """Values of :attr:`Word.STATE`."""

    STARTING = 0
    READY = 1
    RUNNING = 2
    STOPPED = 3
    FAILED = -1


MAX_PERIOD = 8192
"""Largest JACK period (frames) the buffers are sized for."""

IN_CAPACITY = 1 << 18
"""Input ring: 262,144 frames (5.9 s) before a stalled worker loses input."""

OUT_CAPACITY = 1 << 18
"""Output ring: bounds the latency ``P + R`` the ring can hold (minus a margin)."""

HIST = 4096
"""Worker hop times kept for the p50/p99 statistics."""


def control_words() -> np.ndarray:
    """A zeroed control array of its own (for a client without a shared block, e.g. a player).

    Returns
    -------
    np.ndarray [shape=(N_WORDS,), dtype=int64]
    """
    return np.zeros(N_WORDS, np.int64)


class SharedBlock:
    """The shared memory: control words, hop-time history, input and output rings.

    Parameters
    ----------
    buf : writable buffer
        :meth:`nbytes` bytes.
    init : bool
        Zero everything (the creator does; an attaching worker does not).
    shm : multiprocessing.shared_memory.SharedMemory, optional
        The block ``buf`` belongs to, when shared with a process.

    Attributes
    ----------
    ctl : np.ndarray [shape=(N_WORDS,), dtype=int64]
        Indexed by :class:`Word`.
    hist : np.ndarray [shape=(HIST,), dtype=float64]
        Worker milliseconds per model hop, a ring (``ctl[Word.HIST_N]`` written so far).
    ring_in : SampleRing
        2 channels (in_L, in_R): callback -> worker.
    ring_out : SampleRing
        14 channels (the outputs' L/R in :data:`rtsep.live.mixer.LIVE_OUTPUTS` order):
        worker -> callback.
    controls : rtsep.live.mixer.Controls
        Gain, mute and solo per output (control threads -> worker).
    meters : np.ndarray [shape=(N_LIVE, 2), dtype=float64]
        Peak and RMS of each output, linear (worker -> control surfaces).
    """

    def __init__(self, buf, *, init: bool, shm=None):
        self.shm = shm
        off = 0
        self.ctl = np.frombuffer(buf, np.int64, N_WORDS, off)
        off += 8 * N_WORDS
        self.hist = np.frombuffer(buf, np.float64, HIST, off)
        off += 8 * HIST
        table = np.frombuffer(buf, np.float64, N_LIVE * CONTROL_FIELDS, off).reshape(N_LIVE, -1)
        off += 8 * N_LIVE * CONTROL_FIELDS
        self.controls = Controls(table, self.ctl[Word.CONTROL_SEQ:Word.CONTROL_SEQ + 1])
        self.meters = np.frombuffer(buf, np.float64, N_LIVE * 2, off).reshape(N_LIVE, 2)
        off += 8 * N_LIVE * 2
        n_in = SampleRing.nbytes(N_CHANNELS, IN_CAPACITY)
        self.ring_in = SampleRing(N_CHANNELS, IN_CAPACITY, buf[off:off + n_in], init=init)
        off += n_in
        n_out = SampleRing.nbytes(2 * N_LIVE, OUT_CAPACITY)
        self.ring_out = SampleRing(2 * N_LIVE, OUT_CAPACITY, buf[off:off + n_out], init=init)
        if init:
            self.ctl[:] = 0
            self.hist[:] = 0
            self.controls.table[:] = 0  # 0 dB, nothing muted or soloed
            self.meters[:] = 0

    @staticmethod
    def layout() -> dict[str, int]:
        """Byte offsets and sizes of the parts, for native code that maps the block
        (the LV2 plugin of :mod:`rtsep.bridge`): ``ctl``, ``controls`` (float64
        rows gain dB / mute / solo), ``in_header``/``in_data``/``in_capacity``/
        ``in_channels``, the same for ``out``, and ``size``."""
        table = 8 * N_WORDS + 8 * HIST
        ring_in = table + 8 * N_LIVE * (CONTROL_FIELDS + 2)
        ring_out = ring_in + SampleRing.nbytes(N_CHANNELS, IN_CAPACITY)
        head = 8 * HEADER_WORDS
        return {"ctl": 0, "controls": table,
                "in_header": ring_in, "in_data": ring_in + head, "in_capacity": IN_CAPACITY,
                "in_channels": N_CHANNELS,
                "out_header": ring_out, "out_data": ring_out + head,
                "out_capacity": OUT_CAPACITY, "out_channels": 2 * N_LIVE,
                "size": SharedBlock.nbytes()}

    @staticmethod
    def nbytes() -> int:
        """Bytes of the whole block."""
        return (8 * N_WORDS + 8 * HIST + 8 * N_LIVE * (CONTROL_FIELDS + 2)
                + SampleRing.nbytes(N_CHANNELS, IN_CAPACITY)
                + SampleRing.nbytes(2 * N_LIVE, OUT_CAPACITY))

    @classmethod
    def create(cls, shared_memory: bool) -> "SharedBlock":
        """A new zeroed block: ``SharedMemory`` for a worker process, else plain memory."""
        if not shared_memory:
            return cls(memoryview(bytearray(cls.nbytes())), init=True)
        from multiprocessing import shared_memory as shmod

        shm = shmod.SharedMemory(create=True, size=cls.nbytes())
        return cls(shm.buf, init=True, shm=shm)

    @classmethod
    def attach(cls, name: str) -> "SharedBlock":
        """The block another process created (a worker process attaching by name)."""
        from multiprocessing import shared_memory as shmod

        shm = shmod.SharedMemory(name=name)
        try:  # the creator unlinks it; Python < 3.13 would also track it here
            from multiprocessing import resource_tracker

            resource_tracker.unregister(shm._name, "shared_memory")
        except (ImportError, AttributeError, KeyError):  # pragma: no cover
            pass
        return cls(shm.buf, init=False, shm=shm)

    def close(self, unlink: bool = False) -> None:
        """Release the views and the block; ``unlink`` removes it (the creator)."""
        if self.shm is None:
            return
        # numpy views must go before the buffer can be released
        self.ctl = self.hist = self.ring_in = self.ring_out = self.controls = self.meters = None
        try:
            self.shm.close()
        except BufferError:  # pragma: no cover - a view still alive somewhere
            pass
        if unlink:
            try:
                self.shm.unlink()
            except FileNotFoundError:
                pass
        self.shm = None
