"""The live JACK client: stereo in, four stems (+ instrumental) out, in real time.

Structure
---------
::

    JACK process callback                    worker (thread or process)
    ---------------------                    --------------------------
    in_L, in_R  --push-->  input ring  --read-->  StreamingSeparator.process
    10 outputs <--pop---  output ring <--write--  (model + DSP), gains

The process callback only copies between port buffers and the two preallocated
single-producer/single-consumer rings of :mod:`rtsep.ringbuf`, and updates a few
integer counters; it never allocates, blocks, logs, or touches the model. It is
native code (a Numba ``cfunc`` registered with ``jack_set_process_callback``, see
:mod:`rtsep.jack_rt`), not Python: it never waits for the interpreter's GIL, so no
Python thread of the client process (the main thread, a worker thread, the garbage
collector) can delay it. Everything else runs on the worker. The model is loaded,
warmed and timed on the worker *before* the client is activated.

Latency (fixed at start, exact, reported to JACK)
-------------------------------------------------
With ``D = 4095 + (L + K - 1) * 1024`` the engine's own latency (``L`` look-ahead
frames, ``K`` model hop frames; see :mod:`rtsep.engine`), ``P`` the JACK period
and ``R`` the reserve (a whole number of periods, at least one, and at least 2x
the worst block processing time measured at start)::

    latency_samples = D + P + R

The output ring starts with ``P + R`` frames of silence. In a cycle the callback
first writes the period's input, then reads the period's output, so the worker can
use that input at the earliest for the *next* cycle (``+ P``); ``R`` covers the
time the worker needs (a model call can take several periods). Output position
``p`` always holds separated input ``p - latency``: the click test in
``tests/test_live.py`` measures it to the sample. The figure is reported to JACK
through a latency callback (:mod:`rtsep.jack_latency`): outputs' capture latency =
inputs' capture latency + ours; inputs' playback latency = outputs' playback
latency + ours, so ``jack_lsp -l`` and DAWs compensate it.

With a fast model (GPU: a call well under one period) ``R = P`` and the total is
``4095 + (K - 1) * 1024 + 2 * P`` for ``L = 0``. On a 2-core CPU with a
30-40 ms model ``R`` is several periods (see the README for measured figures).

Faults
------
- Worker late (underrun): the callback outputs what is there and **silence** for
  the rest of the period and counts an underrun. Silence, not the dry mix: the dry
  mix on a stem port (or on the karaoke pair) would put the vocals back into a
  mix that is meant to have none. The read position still advances, so output
  position ``p`` keeps its input sample: when the worker finds its output already
  overdue it drops input (all but the newest period), restarts the engine (the
  audio inside it belongs to positions already played as silence; its model
  context refills within ~4.5 s) and re-locks at the same latency, without drift.
  Output position ``p`` therefore always holds separated input ``p - latency``
  or silence, never misplaced audio.
- Input ring full (worker stalled for seconds): the callback drops the period
  and counts it (``lost``); the worker re-synchronises the same way.
- xruns are counted (JACK's xrun callback). Server shut down: :meth:`wait`
  returns ``"shutdown"`` at once, the client stops. Block size changes: buffers
  are sized for the largest JACK period (8192 frames); a *larger* period than at
  start needs more ring (``P + R``), so the latency grows by the difference and is
  reported anew (a smaller one keeps the latency). Sample rates other than 44,100 Hz
  are refused with a clear message (resampling would make the latency fractional).

Thread or process worker (measured, 2-core CPU, dummy server)
-------------------------------------------------------------
The first version's process callback was Python and needed the GIL: with the worker
in a *thread*, the realtime callback waited for the GIL whenever the worker thread
held it (engine bookkeeping, the Keras call's Python overhead), a priority
inversion. Measured then with ``benchmarks/soak.py`` (``jackd -R -d dummy -p 128``,
untrained U-Net at ~44 ms per call, model hop 8, 40 s per run, runs alternated, on a
2-core VM that other jobs kept at a load average of 3-4): thread 61 and 91 xruns,
21 and 26 callbacks ending after half the period; process 19 and 13 xruns, 6 and 1.
The callback is now native code (:mod:`rtsep.jack_rt`) and never waits for the GIL,
so the worker's place no longer decides whether the callback runs on time; it still
decides what disturbs the *worker*: a worker thread shares its process's GIL and
garbage collector with the host program (a DAW script, the status printer), a worker
process shares nothing but the rings (``multiprocessing.shared_memory``), so
:data:`DEFAULT_WORKER` stays ``"process"``. Measured with the native
callback (``soak.py --minutes 1 --start-server --realtime --period 256 --model default
--model-hop 3 --compare-workers``): thread and process both 0 xruns and 0 underruns,
worker per hop p50/p99 34.9/38.2 ms (thread) and 38.0/41.5 ms (process), our callback
ending at most 1.6 and 1.8 ms into the 5.8 ms period: with a native callback the
choice no longer shows in a minute on a quiet machine.

Worker priority and threads: the model runs on all CPUs but one by default
(:func:`live_threads`), which removed the server's xruns in the soak test. Options
``worker_nice`` and ``worker_rtprio`` (SCHED_FIFO below JACK) exist; measured with
the former Python callback, ``worker_rtprio=1`` gave 60-64 xruns (realtime
TensorFlow threads starved the client's main thread, which could hold the GIL the
callback needed); not re-measured with the native callback. Defaults leave
priorities alone.
"""

from __future__ import annotations

import collections
import gc
import math
import os
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field

import numpy as np

from rtsep.constants import HOP, MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_OUTPUTS, \
    OUTPUTS, SAMPLE_RATE
from rtsep.errors import ConfigError, JackError, ModelError, RtsepError
from rtsep.ringbuf import SampleRing
from rtsep.runtime.stand_ins import NullModel, RandomKerasModel, RouteModel, parse_test_model  # noqa: F401

DEFAULT_WORKER = "process"
"""Where the engine runs by default: ``"process"`` or ``"thread"`` (see module doc)."""

DEFAULT_WORKER_NICE = 0
"""Nice value the worker process asks for (see :class:`LiveSeparator`); 0 = unchanged
(-10 showed no measurable benefit on the shared 2-core test machine)."""

MAX_PERIOD = 8192
"""Largest JACK period (frames) the buffers are sized for."""

IN_CAPACITY = 1 << 18
"""Input ring: 262,144 frames (5.9 s) before a stalled worker loses input."""

OUT_CAPACITY = 1 << 18
"""Output ring: bounds the latency ``P + R`` the ring can hold (minus a margin)."""

HIST = 4096
"""Worker hop times kept for the p50/p99 statistics."""

RESERVE_MARGIN = 2.0
"""Reserve >= this times the worst block time measured at start. 1.5 left the default
model 2 underruns in a 10-minute soak (worker p99 37.6 ms against a 46 ms reserve);
see the README's soak section for the run with 2.0."""

AUTO_HOP_LOAD = 0.5
"""``--model-hop auto``: worker time per ``K`` frames <= this share of real time."""

PORT_NAMES_IN = ("in_L", "in_R")
PORT_NAMES_OUT = tuple(f"{name}_{side}" for name in OUTPUTS for side in "LR")

# control words (int64) shared by the callback, the worker and the main thread;
# each has exactly one writer (noted)
(C_STATE,          # worker: 0 starting, 1 ready, 2 running, 3 stopped, -1 failed
 C_STOP,           # main: 1 = worker must stop
 C_CYCLES,         # callback
 C_UNDERRUNS,      # callback: cycles with missing output frames
 C_MISSING,        # callback: output frames that were missing (played as silence)
 C_PERIOD,         # callback: current period (frames)
 C_CB_MAX,         # callback: max frames since cycle start at the callback's end
 C_CB_SLOW,        # callback: cycles ending later than half the period
 C_XRUNS,          # xrun callback (JACK notification thread)
 C_PREFILL,        # worker: P + R in effect (frames)
 C_PREFILL_REQ,    # blocksize callback: prefill wanted (frames)
 C_HOPS,           # worker: model calls since start
 C_BUSY_NS,        # worker: time inside engine.process
 C_FED,            # worker: input frames fed to the engine
 C_SKIPPED,        # worker: input frames dropped to re-lock (or lost)
 C_DROPPED,        # worker: output frames written too late (dropped)
 C_NONFINITE,      # worker: NaN/Inf input samples replaced by 0
 C_HIST_N,         # worker: hop times written to the history
 C_ENGINE_LAT,     # worker: D
 C_FRAMES_MAX,     # worker: largest chunk fed
 C_FIRST_FRAME,    # callback: JACK frame time of the first cycle (engine sample 0)
 ) = range(21)
N_CTL = 32

_STATE_STARTING, _STATE_READY, _STATE_RUNNING, _STATE_STOPPED, _STATE_FAILED = 0, 1, 2, 3, -1


# ---------------------------------------------------------------------------------------
# shared memory: control words, hop-time history, the two rings
# ---------------------------------------------------------------------------------------
class _Shared:
    """The memory the callback, the worker and the main thread share.

    Plain memory for a worker thread, a ``SharedMemory`` block for a worker process.
    """

    def __init__(self, buf, *, init: bool, shm=None):
        self.shm = shm
        off = 0
        self.ctl = np.frombuffer(buf, np.int64, N_CTL, off)
        off += 8 * N_CTL
        self.hist = np.frombuffer(buf, np.float64, HIST, off)
        off += 8 * HIST
        n_in = SampleRing.nbytes(N_CHANNELS, IN_CAPACITY)
        self.ring_in = SampleRing(N_CHANNELS, IN_CAPACITY, buf[off:off + n_in], init=init)
        off += n_in
        n_out = SampleRing.nbytes(2 * N_OUTPUTS, OUT_CAPACITY)
        self.ring_out = SampleRing(2 * N_OUTPUTS, OUT_CAPACITY, buf[off:off + n_out], init=init)
        if init:
            self.ctl[:] = 0
            self.hist[:] = 0

    @staticmethod
    def nbytes() -> int:
        return (8 * N_CTL + 8 * HIST + SampleRing.nbytes(N_CHANNELS, IN_CAPACITY)
                + SampleRing.nbytes(2 * N_OUTPUTS, OUT_CAPACITY))

    @classmethod
    def create(cls, shared_memory: bool) -> "_Shared":
        if not shared_memory:
            return cls(memoryview(bytearray(cls.nbytes())), init=True)
        from multiprocessing import shared_memory as shmod

        shm = shmod.SharedMemory(create=True, size=cls.nbytes())
        return cls(shm.buf, init=True, shm=shm)

    @classmethod
    def attach(cls, name: str) -> "_Shared":
        from multiprocessing import shared_memory as shmod

        shm = shmod.SharedMemory(name=name)
        try:  # the creator unlinks it; Python < 3.13 would also track it here
            from multiprocessing import resource_tracker

            resource_tracker.unregister(shm._name, "shared_memory")
        except (ImportError, AttributeError, KeyError):  # pragma: no cover
            pass
        return cls(shm.buf, init=False, shm=shm)

    def close(self, unlink: bool = False) -> None:
        if self.shm is None:
            return
        # numpy views must go before the buffer can be released
        self.ctl = self.hist = self.ring_in = self.ring_out = None
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


# ---------------------------------------------------------------------------------------
# worker: plan (load, warm, time, choose hop and reserve), then the loop
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _WorkerParams:
    period: int
    lookahead: int
    model_hop: int | str
    reserve_periods: int | None
    gains: tuple
    threads: int | None = None
    warm_calls: int = 8
    nice: int = 0
    rtprio: int = 0


@dataclass
class Plan:
    """What the worker measured and chose before the client went live.

    Attributes are in samples (frames at 44.1 kHz) or milliseconds, as named.
    """

    model_hop: int
    engine_latency_samples: int
    reserve_periods: int
    prefill_samples: int
    latency_samples: int
    model_ms: float
    dsp_ms_per_frame: float
    block_ms_p50: float
    block_ms_max: float
    load: float
    warmup_s: float
    device: str = "cpu"
    notes: list = field(default_factory=list)


def live_threads(cpus: int) -> int:
    """Default model threads live: all CPUs but one, which stays free for JACK.

    Measured (2 cores, default model, realtime dummy server, period 256): with both
    cores TensorFlow's call took the same time (p50 33.3 ms) as with one (32.7 ms) but
    the worker used 70 % of a core instead of 47 %, and the server counted 12 xruns in
    10 minutes against none with one thread (see the README's soak section).
    """
    return max(1, int(cpus) - 1)


def _load_model(source, threads):
    """A callable, or a model spec loaded with :func:`rtsep.runtime.load_model` (on the worker)."""
    from rtsep.runtime.loader import load_model  # TensorFlow: only on the worker

    if threads is None and not callable(source):
        from rtsep.runtime.compiled import available_cpus

        threads = live_threads(available_cpus())
    model = load_model(source, threads=threads, batch_size=1)
    return model, float(getattr(model, "warmup_s", 0.0)), str(getattr(model, "device", "cpu"))


def _time_calls(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def make_plan(model, params: _WorkerParams, warmup_s: float = 0.0, device: str = "cpu"):
    """Build the engine, warm and time it; choose the model hop and the reserve.

    Returns
    -------
    (engine, Plan)
    """
    from rtsep.engine import StreamConfig, StreamingSeparator

    period = params.period
    period_s = period / SAMPLE_RATE
    hop_s = HOP / SAMPLE_RATE
    L = params.lookahead
    rng = np.random.default_rng(0)
    window = (0.1 * rng.random((1, MODEL_BINS, MODEL_FRAMES, N_CHANNELS))).astype(np.float32)
    for _ in range(2):
        model(window)
    device = str(getattr(model, "device", device))
    t_model = float(np.median(_time_calls(lambda: model(window), 5)))

    # DSP per frame (the model excluded): the engine with a model that costs nothing
    probe = StreamingSeparator(NullModel(), StreamConfig(lookahead_frames=L, model_hop_frames=1))
    blk = (0.05 * rng.standard_normal((HOP, N_CHANNELS))).astype(np.float32)
    blk_out = np.empty((N_OUTPUTS, HOP, N_CHANNELS), np.float32)
    for _ in range(4):
        probe.process(blk, out=blk_out)
    t_dsp = float(np.median(_time_calls(lambda: probe.process(blk, out=blk_out), 10)))
    del probe

    notes = []
    if params.model_hop == "auto":
        k_max = MODEL_FRAMES - L
        for k in range(1, k_max + 1):
            if t_model + k * t_dsp <= AUTO_HOP_LOAD * k * hop_s:
                break
        else:
            raise ModelError(
                f"the model is too slow for real time: {1e3 * t_model:.1f} ms per call plus "
                f"{1e3 * t_dsp:.2f} ms DSP per frame never fits half of real time with any "
                f"model hop <= {k_max} frames; use a faster model or a GPU")
        K = k
        notes.append(f"model hop auto: {K} frame(s) ({1e3 * t_model:.1f} ms per model call, "
                     f"{1e3 * t_dsp:.2f} ms DSP per frame, budget {AUTO_HOP_LOAD:.0%} of real time)")
    else:
        K = int(params.model_hop)

    engine = StreamingSeparator(model, StreamConfig(lookahead_frames=L, model_hop_frames=K))
    # time the engine on period-sized blocks: first the warm-up fill, then enough
    # blocks for `warm_calls` model calls
    n_blocks = math.ceil((params.warm_calls * K * HOP + 4 * HOP) / period)
    # (with buffers of the same kinds as the loop's, so that no Numba specialisation
    # is compiled after start)
    noise = (0.05 * rng.standard_normal((n_blocks * period, N_CHANNELS))).astype(np.float32)
    bufs = _Buffers()
    times = np.empty(n_blocks)
    # Two passes, the first untimed: one-off costs of the first blocks (page faults,
    # lazy initialisation) would otherwise set the reserve for the whole run.
    for timed in (False, True):
        for b in range(n_blocks):
            bufs.block[:period] = noise[b * period:(b + 1) * period]
            t0 = time.perf_counter()
            bufs.process(engine, period)
            times[b] = time.perf_counter() - t0
    load = float(times.sum() / (n_blocks * period_s))
    if load >= 1.0:
        raise ModelError(
            f"the model is too slow for real time: the engine needs {load:.2f} s per second of "
            f"audio at model hop {K} ({1e3 * t_model:.1f} ms per model call); "
            "use --model-hop auto or a larger hop, a faster model, or a GPU")
    if load > 0.8:
        notes.append(f"warning: worker load {load:.0%} of real time at start; underruns are likely")
    t_max = float(times.max())
    if params.reserve_periods is None:
        R = max(1, math.ceil(RESERVE_MARGIN * t_max / period_s))
    else:
        R = int(params.reserve_periods)
        if R < 0:
            raise ConfigError(f"reserve_periods must be >= 0, got {R}")
    prefill = (1 + R) * period
    if prefill + 2 * MAX_PERIOD + 8 * HOP > OUT_CAPACITY:
        raise ModelError(f"the reserve needed ({R} periods of {period}) exceeds the output ring; "
                         "the model is too slow")
    engine.reset()
    engine.buffers = bufs
    plan = Plan(model_hop=K, engine_latency_samples=engine.latency_samples, reserve_periods=R,
                prefill_samples=prefill, latency_samples=engine.latency_samples + prefill,
                model_ms=1e3 * t_model, dsp_ms_per_frame=1e3 * t_dsp,
                block_ms_p50=1e3 * float(np.median(times)), block_ms_max=1e3 * t_max,
                load=load, warmup_s=warmup_s, device=device, notes=notes)
    return engine, plan


class _Buffers:
    """The worker's preallocated blocks; :meth:`process` runs the engine on one chunk."""

    CHUNK_MAX = 4 * HOP

    def __init__(self, gains=None):
        n = self.CHUNK_MAX
        self.block = np.zeros((n, N_CHANNELS), np.float32)
        self.out = np.zeros((N_OUTPUTS, n, N_CHANNELS), np.float32)
        self.out_cm = np.zeros((2 * N_OUTPUTS, n), np.float32)  # channel-major for the ring
        self.set_gains(gains)

    def set_gains(self, gains) -> None:
        g = np.ones(N_OUTPUTS) if gains is None else np.asarray(gains, np.float64)
        self.gain_col = g.astype(np.float32).reshape(N_OUTPUTS, 1, 1)
        self.apply_gains = bool(np.any(g != 1.0))

    def process(self, engine, n: int) -> np.ndarray:
        """``block[:n]`` through the engine -> ``out_cm[:, :n]`` (10, n), gains applied."""
        out = self.out[:, :n]
        engine.process(self.block[:n], out=out)
        if self.apply_gains:
            out *= self.gain_col
        self.out_cm[:, :n] = out.transpose(0, 2, 1).reshape(2 * N_OUTPUTS, n)
        return self.out_cm


def _worker_loop(engine, sh: _Shared, gains: np.ndarray, parent_pid: bool = False) -> None:
    """Feed available input to the engine and its output to the output ring until stopped."""
    ctl, hist = sh.ctl, sh.hist
    rin, rout = sh.ring_in, sh.ring_out
    bufs = getattr(engine, "buffers", None) or _Buffers()
    bufs.set_gains(gains)
    chunk_max = bufs.CHUNK_MAX
    block = bufs.block
    lost_seen = 0
    in_abs = 0        # absolute position of the next input frame fed to the engine
    busy_hop = 0      # ns inside process() since the last model call
    calls_seen = engine.model_calls
    nonfinite_base = engine.nonfinite_count
    ctl[C_STATE] = _STATE_RUNNING
    parent = os.getppid() if parent_pid else 0
    t_check = time.monotonic()
    while not ctl[C_STOP]:
        if parent and time.monotonic() - t_check > 0.5:  # the client process died
            t_check = time.monotonic()
            if os.getppid() != parent:
                break
        period = max(int(ctl[C_PERIOD]), 1)
        # a larger period than at start: more prefill (silence), reported as more latency
        want = int(ctl[C_PREFILL_REQ])
        have = int(ctl[C_PREFILL])
        if want > have:
            rout.write(None, want - have)
            ctl[C_PREFILL] = want
        # input lost while the ring was full: drop what is buffered, re-synchronise
        lost = rin.lost
        if lost != lost_seen:
            w = rin.write_pos
            if rin.lost != lost:
                continue
            stale = w - rin.read_pos
            rin.skip(stale)
            rout.write(None, stale + lost - lost_seen)
            ctl[C_SKIPPED] += stale + lost - lost_seen
            in_abs = w + lost
            lost_seen = lost
            engine.reset()
            calls_seen, nonfinite_base, busy_hop = engine.model_calls, engine.nonfinite_count, 0
        avail = rin.available()
        if avail <= 0:
            time.sleep(min(max(period / SAMPLE_RATE / 4, 2e-4), 2e-3))
            continue
        prefill = int(ctl[C_PREFILL])
        # output for the next input frame already overdue: drop all but the newest
        # period of input so that the output ring is back at its target fill, and
        # restart the engine: the audio still inside it belongs to positions that
        # were played as silence, and must not come out later (misplaced)
        if in_abs + prefill - rout.read_pos < 0 and avail > period:
            drop = avail - period
            rin.skip(drop)
            rout.write(None, drop)
            in_abs += drop
            avail -= drop
            ctl[C_SKIPPED] += drop
            engine.reset()
            calls_seen, nonfinite_base, busy_hop = engine.model_calls, engine.nonfinite_count, 0
        n = min(avail, chunk_max)
        while rout.space() < n and not ctl[C_STOP]:  # never in normal operation
            time.sleep(1e-3)
        rin.read(block, n)
        t0 = time.perf_counter_ns()
        out_cm = bufs.process(engine, n)
        dt = time.perf_counter_ns() - t0
        ctl[C_DROPPED] += rout.write(out_cm, n)
        in_abs += n
        ctl[C_FED] += n
        ctl[C_BUSY_NS] += dt
        if n > ctl[C_FRAMES_MAX]:
            ctl[C_FRAMES_MAX] = n
        busy_hop += dt
        calls = engine.model_calls
        if calls != calls_seen:
            i = int(ctl[C_HIST_N])
            hist[i % HIST] = busy_hop * 1e-6
            ctl[C_HIST_N] = i + 1
            ctl[C_HOPS] += calls - calls_seen
            calls_seen = calls
            busy_hop = 0
        if engine.nonfinite_count != nonfinite_base:
            ctl[C_NONFINITE] += engine.nonfinite_count - nonfinite_base
            nonfinite_base = engine.nonfinite_count
    ctl[C_STATE] = _STATE_STOPPED


def _raise_priority(nice: int, rtprio: int = 0) -> str | None:
    """Raise the worker process's priority before TensorFlow starts its threads (which
    inherit it): a lower nice value, or SCHED_FIFO at ``rtprio`` (keep it below
    JACK's, 10 by default in jackd2). Returns a note when that was not allowed."""
    try:
        if rtprio:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(rtprio)))
        elif nice:
            os.setpriority(os.PRIO_PROCESS, 0, int(nice))
    except (PermissionError, OSError) as exc:
        what = f"realtime priority {rtprio}" if rtprio else f"nice value {nice}"
        return (f"could not give the worker {what} ({exc.strerror or exc}); it runs at normal "
                "priority (needs the rights JACK's realtime group has: rtprio/nice limits in "
                "/etc/security/limits.conf, or CAP_SYS_NICE)")
    return None


def _worker_main(source, params: _WorkerParams, shared, conn, quiet: bool = False) -> None:
    """Worker entry (thread or process): plan, report, loop. ``shared``: _Shared or its name.

    ``quiet`` (worker process only): stderr goes to a temporary file while the
    model loads; it is shown only if loading crashes.
    """
    own = isinstance(shared, str)
    sh = _Shared.attach(shared) if own else shared
    engine = None
    hush = _QuietStderr() if quiet else None
    nice_note = _raise_priority(params.nice, params.rtprio) if own else None
    try:
        model, warmup_s, device = _load_model(source, params.threads)
        engine, plan = make_plan(model, params, warmup_s, device)
        # Move everything loading the model created (Keras/TensorFlow: ~400,000
        # objects) out of the cyclic collector's reach: a full collection over them
        # took 150-200 ms here, far beyond the reserve, and came at random times.
        # (A worker thread does this for its whole process.) Before "ready": the
        # client goes live as soon as it hears it.
        gc.collect()
        gc.freeze()
        if nice_note:
            plan.notes.append(nice_note)
        if hush is not None:
            hush.restore()
        sh.ctl[C_PREFILL] = plan.prefill_samples
        sh.ctl[C_PREFILL_REQ] = plan.prefill_samples
        sh.ctl[C_ENGINE_LAT] = plan.engine_latency_samples
        sh.ctl[C_PERIOD] = params.period
        sh.ring_out.write(None, plan.prefill_samples)
        sh.ctl[C_STATE] = _STATE_READY
        conn.send(("ready", plan))
    except RtsepError as exc:
        sh.ctl[C_STATE] = _STATE_FAILED
        conn.send(("error", type(exc).__name__, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the main side, which raises
        sh.ctl[C_STATE] = _STATE_FAILED
        text = traceback.format_exc()
        if hush is not None:
            text = f"{hush.text()}\n{text}"
        conn.send(("crash", type(exc).__name__, text))
    finally:
        if hush is not None:
            hush.restore()
    if engine is not None and sh.ctl[C_STATE] == _STATE_READY:
        try:
            _worker_loop(engine, sh, np.asarray(params.gains, np.float64), parent_pid=own)
        except BaseException:  # noqa: BLE001
            sh.ctl[C_STATE] = _STATE_FAILED
            try:
                conn.send(("crash", "worker", traceback.format_exc()))
            except OSError:
                pass
    if own:
        sh.close()


def _child_main() -> int:
    """Entry of ``python -m rtsep.live_worker``: job on stdin, messages on $RTSEP_WORKER_FD."""
    import multiprocessing.connection as mpc
    import pickle
    import sys

    conn = mpc.Connection(int(os.environ["RTSEP_WORKER_FD"]), readable=False)
    source, params, shm_name = pickle.loads(sys.stdin.buffer.read())
    _worker_main(source, params, shm_name, conn, quiet=not os.environ.get("RTSEP_WORKER_VERBOSE"))
    conn.close()
    return 0


class _QuietStderr:
    """Send file descriptor 2 to a temporary file (TensorFlow's C++ start-up chatter).

    ``text()`` returns what was written (for a crash report); ``restore()`` puts
    stderr back.
    """

    def __init__(self):
        import tempfile

        sys_stderr = 2
        self._saved = os.dup(sys_stderr)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), sys_stderr)

    def text(self, n_chars: int = 4000) -> str:
        self._file.seek(0)
        return self._file.read().decode(errors="replace")[-n_chars:]

    def restore(self) -> None:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
            self._file.close()


# ---------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------
def parse_gains(items) -> tuple:
    """``["vocals=-60", "drums=3"]`` (dB) -> linear gains for the 5 outputs (OUTPUTS order)."""
    gains = [1.0] * N_OUTPUTS
    for item in items or ():
        name, sep, value = str(item).partition("=")
        if not sep or name not in OUTPUTS:
            raise ConfigError(f"bad gain {item!r}: use STEM=DB with STEM one of {', '.join(OUTPUTS)}")
        try:
            db = float(value)
        except ValueError:
            raise ConfigError(f"bad gain {item!r}: {value!r} is not a number of dB") from None
        gains[OUTPUTS.index(name)] = 0.0 if db <= -120 else 10.0 ** (db / 20.0)
    return tuple(gains)


class LiveSeparator:
    """A JACK client that separates its stereo input into stem ports in real time.

    Parameters
    ----------
    model : callable or str
        A callable following the model interface (``mag (1, 1024, 192, 2) ->
        est (1, 4, 1024, 192, 2)``), or a model spec (name under ``models/`` or a
        path) loaded with :func:`rtsep.runtime.load_model` on the worker. A
        callable given with ``worker="process"`` must be picklable.
    client_name : str
        JACK client name.
    servername : str, optional
        JACK server name (default: ``$JACK_DEFAULT_SERVER`` or the default server).
    lookahead : int
        Frames of future context the model sees (adds 1024 samples each).
    model_hop : int or "auto"
        The model runs every ``K`` frames (adds ``(K-1)*1024`` samples); ``"auto"``
        picks the smallest ``K`` that keeps the worker under half of real time.
    reserve_periods : int, optional
        Output-ring reserve in periods (default: measured at start).
    gains : sequence of 5 floats or dict name -> dB, optional
        Linear gains per output (vocals, drums, bass, other, instrumental).
    worker : "process" | "thread"
    threads : int, optional
        Threads the model runtime may use (TensorFlow intra-op); default: all CPUs
        but one (:func:`live_threads`).
    worker_nice : int
        Nice value of the worker process (negative = more CPU share against other
        programs; needs CAP_SYS_NICE, else a note and normal priority). Not used
        with a worker thread (it would also apply to the main thread).
    worker_rtprio : int
        If > 0: SCHED_FIFO priority of the worker process (below JACK's, e.g. 1-5);
        TensorFlow's threads inherit it. Needs realtime rights (else a note).
    start_timeout_s : float
        How long loading and warming the model may take.

    Notes
    -----
    ``start()`` opens the client, builds and warms the model on the worker,
    registers the ports and the latency callback, activates, and returns with the
    client live. ``stop()`` (or the context manager) undoes it.
    """

    def __init__(self, model, *, client_name: str = "rtsep", servername: str | None = None,
                 lookahead: int = 0, model_hop: int | str = 1,
                 reserve_periods: int | None = None, gains=None,
                 worker: str = DEFAULT_WORKER, threads: int | None = None,
                 worker_nice: int = DEFAULT_WORKER_NICE, worker_rtprio: int = 0,
                 start_timeout_s: float = 600.0):
        if worker not in ("process", "thread"):
            raise ConfigError(f"worker must be 'process' or 'thread', got {worker!r}")
        if not (model_hop == "auto" or (isinstance(model_hop, int) and model_hop >= 1)):
            raise ConfigError(f"model_hop must be an integer >= 1 or 'auto', got {model_hop!r}")
        if not isinstance(lookahead, int) or lookahead < 0:
            raise ConfigError(f"lookahead must be an integer >= 0, got {lookahead!r}")
        if isinstance(gains, dict):
            gains = parse_gains(f"{k}={v}" for k, v in gains.items())
        gains = tuple(float(g) for g in (gains or (1.0,) * N_OUTPUTS))
        if len(gains) != N_OUTPUTS:
            raise ConfigError(f"gains must have {N_OUTPUTS} values ({', '.join(OUTPUTS)}), got {len(gains)}")
        self.model = model
        self.client_name = client_name
        self.servername = servername
        self.lookahead = lookahead
        self.model_hop = model_hop
        self.reserve_periods = reserve_periods
        self.gains = gains
        self.worker = worker
        self.threads = threads
        self.worker_nice = int(worker_nice)
        self.worker_rtprio = int(worker_rtprio)
        self.start_timeout_s = float(start_timeout_s)
        self.plan: Plan | None = None
        self.client = None
        self.reporter = None
        self._sh: _Shared | None = None
        self._conn = None
        self._proc = None
        self._thread = None
        self._shutdown = threading.Event()
        self._shutdown_reason = ""
        self._rate_changed = 0
        self._t_start = None
        self._load_prev = None
        self._latency_samples = 0
        self.jack_messages: collections.deque = collections.deque(maxlen=50)
        self._finalizer = None

    # -- properties --------------------------------------------------------------------
    @property
    def worker_pid(self) -> int:
        """Process id of the worker (this process for a worker thread)."""
        return self._proc.pid if self._proc is not None else os.getpid()

    @property
    def latency_samples(self) -> int:
        """Total latency in effect (input to output), in samples; what JACK is told."""
        if self._sh is None:
            return self._latency_samples
        return int(self._sh.ctl[C_ENGINE_LAT] + self._sh.ctl[C_PREFILL])

    # -- start / stop ------------------------------------------------------------------
    def start(self, progress=None) -> "LiveSeparator":
        """Open the client, load and warm the model, activate.

        Parameters
        ----------
        progress : callable(str), optional
            Told what is happening once the server has answered (loading can take
            a while).
        """
        import jack

        from rtsep.jack_server import open_client

        client = open_client(self.client_name, self.servername)
        self.client = client
        # libjack's own messages (e.g. several lines when the server dies) are kept
        # in jack_messages instead of stderr: our errors say what happened, once
        jack.set_error_function(self.jack_messages.append)
        jack.set_info_function(self.jack_messages.append)
        if progress is not None:
            progress(f"connected to JACK as {client.name!r} ({client.samplerate} Hz, period "
                     f"{client.blocksize}); loading and warming the model ...")
        try:
            self._start(client)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, client) -> None:
        if client.samplerate != SAMPLE_RATE:
            raise JackError(
                f"the JACK server runs at {client.samplerate} Hz; rtsep live needs "
                f"{SAMPLE_RATE} Hz (its models are trained at that rate). Restart the server "
                f"with -r {SAMPLE_RATE}")
        period = int(client.blocksize)
        if period > MAX_PERIOD:
            raise JackError(f"JACK period {period} is larger than the {MAX_PERIOD} frames rtsep "
                            "supports; use a smaller -p")
        self._inports = [client.inports.register(n) for n in PORT_NAMES_IN]
        self._outports = [client.outports.register(n) for n in PORT_NAMES_OUT]

        sh = _Shared.create(shared_memory=self.worker == "process")
        self._sh = sh
        # if stop() is never called: stop the worker, remove the shared memory at exit
        self._finalizer = weakref.finalize(self, _emergency_stop, sh)
        params = _WorkerParams(period=period, lookahead=self.lookahead, model_hop=self.model_hop,
                               reserve_periods=self.reserve_periods, gains=self.gains,
                               threads=self.threads, nice=self.worker_nice,
                               rtprio=self.worker_rtprio)
        self._start_worker(params)
        from rtsep.jack_rt import process_callback

        process_callback()  # compile the native callback while the worker loads the model
        self.plan = self._wait_ready()
        self._latency_samples = self.plan.latency_samples

        from rtsep.jack_latency import LatencyReporter

        self.reporter = LatencyReporter(client, self._inports, self._outports,
                                        self.plan.latency_samples)
        self._install_callbacks(client)
        client.activate()
        self._t_start = time.monotonic()

    def _start_worker(self, params: _WorkerParams) -> None:
        import multiprocessing.connection as mpc
        import pickle
        import subprocess
        import sys

        if self.worker == "thread":
            recv, send = mpc.Pipe(duplex=False)
            self._conn = recv
            self._thread = threading.Thread(target=_worker_main, name="rtsep-worker",
                                            args=(self.model, params, self._sh, send), daemon=True)
            self._thread.start()
            return
        # A plain child interpreter (not multiprocessing's spawn, which re-imports the
        # caller's __main__): job pickled on stdin, messages back through a pipe.
        try:
            job = pickle.dumps((self.model, params, self._sh.shm.name))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ConfigError(f"the model cannot be sent to a worker process ({exc}); "
                              "use worker='thread' or a picklable model") from None
        r, w = os.pipe()
        env = dict(os.environ, RTSEP_WORKER_FD=str(w))
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "rtsep.live_worker"],
                                          stdin=subprocess.PIPE, pass_fds=(w,), env=env)
        finally:
            os.close(w)
        self._conn = mpc.Connection(r, writable=False)
        self._proc.stdin.write(job)
        self._proc.stdin.close()

    def _wait_ready(self) -> Plan:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._conn.poll(0.05):
                try:
                    msg = self._conn.recv()
                except EOFError:
                    raise ModelError("the worker process exited while loading the model") from None
                if msg[0] == "ready":
                    return msg[1]
                kind, name, text = msg
                if kind == "error":
                    cls = {c.__name__: c for c in (ConfigError, ModelError, JackError)}.get(name, RtsepError)
                    raise cls(text)
                raise RuntimeError(f"the worker failed while loading the model:\n{text}")
            if self._proc is not None and self._proc.poll() is not None:
                raise ModelError(f"the worker process died while loading the model "
                                 f"(exit code {self._proc.returncode})")
        raise ModelError(f"loading and warming the model took longer than {self.start_timeout_s:.0f} s")

    def _install_callbacks(self, client) -> None:
        from rtsep import jack_rt

        sh = self._sh
        ctl = sh.ctl
        # the process callback is native code (rtsep.jack_rt): it never needs the GIL
        self._rt_context = jack_rt.build_context(
            ctl, {"cycles": C_CYCLES, "underruns": C_UNDERRUNS, "missing": C_MISSING,
                  "cb_max": C_CB_MAX, "cb_slow": C_CB_SLOW, "first_frame": C_FIRST_FRAME},
            jack_rt.client_address(client),
            in_ring=sh.ring_in, in_ports=[jack_rt.port_address(p) for p in self._inports],
            out_ring=sh.ring_out, out_ports=[jack_rt.port_address(p) for p in self._outports])
        jack_rt.set_process_callback(client, self._rt_context)

        def blocksize(frames):
            ctl[C_PERIOD] = frames
            plan = self.plan
            need = frames + plan.reserve_periods * plan.prefill_samples // (1 + plan.reserve_periods)
            if need > ctl[C_PREFILL_REQ]:
                ctl[C_PREFILL_REQ] = need

        def xrun(delayed_usecs):
            ctl[C_XRUNS] += 1

        def shutdown(status, reason):
            self._shutdown_reason = reason
            self._shutdown.set()

        def samplerate(rate):
            if rate != SAMPLE_RATE:
                self._rate_changed = rate
                self._shutdown_reason = f"sample rate changed to {rate} Hz"
                self._shutdown.set()

        ctl[C_PERIOD] = client.blocksize
        client.set_blocksize_callback(blocksize)
        client.set_xrun_callback(xrun)
        client.set_shutdown_callback(shutdown)
        client.set_samplerate_callback(samplerate)

    def connect(self, inputs=None, outputs=None) -> list[str]:
        """Connect ports after :meth:`start`.

        Parameters
        ----------
        inputs : sequence of 2 str, optional
            Source ports for ``in_L``, ``in_R`` (one port feeds both).
        outputs : sequence of str, optional
            Each ``PREFIX`` (our 10 outputs, in order, to the input ports whose names
            start with it) or ``STEM=PREFIX`` (that stem's L/R pair to the first two).

        Returns
        -------
        list of str
            ``"src -> dst"`` for every connection made.
        """
        import jack

        client = self.client
        made = []
        if inputs:
            srcs = list(inputs)
            if len(srcs) == 1:
                srcs = srcs * 2
            if len(srcs) != 2:
                raise ConfigError(f"--connect-in takes one or two ports, got {len(srcs)}: {srcs}")
            for src, dst in zip(srcs, self._inports):
                try:
                    client.connect(src, dst)
                except jack.JackError as exc:
                    raise JackError(f"cannot connect {src!r} to {dst.name!r}: {exc}; "
                                    "list ports with 'jack_lsp'") from None
                made.append(f"{src} -> {dst.name}")
        for spec in outputs or ():
            name, sep, prefix = spec.partition("=")
            if sep:
                if name not in OUTPUTS:
                    raise ConfigError(f"--connect-out {spec!r}: unknown output {name!r}; "
                                      f"use one of {', '.join(OUTPUTS)}")
                i = OUTPUTS.index(name)
                ours = self._outports[2 * i:2 * i + 2]
            else:
                prefix = spec
                ours = self._outports
            targets = [p.name for p in client.get_ports(is_audio=True, is_input=True)
                       if p.name.startswith(prefix) and not p.name.startswith(client.name + ":")]
            if not targets:
                raise JackError(f"--connect-out {spec!r}: no input port starts with {prefix!r}; "
                                "list ports with 'jack_lsp'")
            for src, dst in zip(ours, targets):
                client.connect(src, dst)
                made.append(f"{src.name} -> {dst}")
        return made

    def stop(self) -> None:
        """Stop the worker, deactivate and close the client (idempotent)."""
        sh = self._sh
        if sh is not None:
            sh.ctl[C_STOP] = 1
        client, self.client = self.client, None
        had_client = client is not None
        if client is not None:
            if not self._shutdown.is_set():
                try:
                    client.deactivate()
                except Exception:  # noqa: BLE001 - server gone while stopping
                    pass
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
            # the callbacks (a reference cycle with the client) hold views of the
            # shared memory: collect them so that the block can be closed
            self.reporter = None
            self._inports = self._outports = None
            del client
            gc.collect()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._proc is not None:
            import subprocess

            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(2)
            self._proc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if sh is not None:
            self._stats_final = self._collect(sh)
            if self._finalizer is not None:
                self._finalizer.detach()
            sh.close(unlink=True)
            self._sh = None
        if had_client:
            import jack

            jack.set_error_function(None)
            jack.set_info_function(None)

    def __enter__(self) -> "LiveSeparator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- running -----------------------------------------------------------------------
    def wait(self, timeout: float | None = None, stop_event: threading.Event | None = None) -> str:
        """Block until the server shuts down, the worker fails, ``stop_event`` is set, or timeout.

        Returns
        -------
        str
            ``"shutdown"``, ``"worker"``, ``"stopped"`` or ``"timeout"``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._shutdown.is_set():
                return "shutdown"
            if self.worker_failed():
                return "worker"
            if stop_event is not None and stop_event.is_set():
                return "stopped"
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return "timeout"
            self._shutdown.wait(0.05 if left is None else min(0.05, left))
            self._follow_latency()

    @property
    def first_frame(self) -> int | None:
        """JACK frame time of the first cycle: input sample 0 of the engine (None before it)."""
        if self._sh is None or not self._sh.ctl[C_CYCLES]:
            return None
        return int(self._sh.ctl[C_FIRST_FRAME])

    @property
    def shutdown_reason(self) -> str:
        return self._shutdown_reason

    def worker_failed(self) -> str | None:
        """A message when the worker stopped unexpectedly, else None."""
        sh = self._sh
        if sh is None:
            return None
        if sh.ctl[C_STATE] == _STATE_FAILED or (self._proc is not None
                                                 and self._proc.poll() is not None):
            text = "the worker stopped"
            if self._conn is not None and self._conn.poll():
                try:
                    msg = self._conn.recv()
                    text = msg[-1]
                except (EOFError, OSError):
                    pass
            return text
        return None

    def _follow_latency(self) -> None:
        """Report a latency change (a larger JACK period) once the worker applied it."""
        sh = self._sh
        if sh is None or self.reporter is None or self._shutdown.is_set():
            return
        lat = self.latency_samples
        if lat != self.reporter.latency_samples:
            self.reporter.latency_samples = lat

    def stats(self) -> dict:
        """Counters and timings now (also valid after :meth:`stop`: the final figures)."""
        if self._sh is None:
            return dict(getattr(self, "_stats_final", {}))
        return self._collect(self._sh)

    def _collect(self, sh: _Shared) -> dict:
        ctl = sh.ctl
        n = int(min(ctl[C_HIST_N], HIST))
        h = sh.hist[:n]
        p50 = float(np.percentile(h, 50)) if n else 0.0
        p99 = float(np.percentile(h, 99)) if n else 0.0
        now = time.monotonic()
        busy = int(ctl[C_BUSY_NS])
        load = 0.0
        if self._load_prev is not None and now > self._load_prev[0]:
            load = (busy - self._load_prev[1]) * 1e-9 / (now - self._load_prev[0])
        self._load_prev = (now, busy)
        lat = int(ctl[C_ENGINE_LAT] + ctl[C_PREFILL]) or self._latency_samples
        plan = self.plan
        period = int(ctl[C_PERIOD])
        return {
            "latency_samples": lat,
            "latency_ms": 1e3 * lat / SAMPLE_RATE,
            "xruns": int(ctl[C_XRUNS]),
            "underruns": int(ctl[C_UNDERRUNS]),
            "missing_frames": int(ctl[C_MISSING]),
            "hops": int(ctl[C_HOPS]),
            "worker_ms_p50": p50,
            "worker_ms_p99": p99,
            "model_hop": plan.model_hop if plan else None,
            "load": load,
            "load_avg": busy * 1e-9 / (int(ctl[C_FED]) / SAMPLE_RATE) if ctl[C_FED] else 0.0,
            "period": period,
            "reserve_periods": plan.reserve_periods if plan else None,
            "prefill_samples": int(ctl[C_PREFILL]),
            "engine_latency_samples": int(ctl[C_ENGINE_LAT]),
            "cycles": int(ctl[C_CYCLES]),
            "callback_max_us": 1e6 * int(ctl[C_CB_MAX]) / SAMPLE_RATE,
            "callback_slow": int(ctl[C_CB_SLOW]),
            "skipped_frames": int(ctl[C_SKIPPED]),
            "lost_frames": int(sh.ring_in.lost),
            "dropped_frames": int(ctl[C_DROPPED]),
            "nonfinite_samples": int(ctl[C_NONFINITE]),
            "worker": self.worker,
            "uptime_s": (now - self._t_start) if self._t_start else 0.0,
        }


def _emergency_stop(sh: _Shared) -> None:
    if sh.ctl is not None:
        sh.ctl[C_STOP] = 1
    if sh.shm is not None:
        try:
            sh.shm.unlink()
        except FileNotFoundError:
            pass


def format_status(s: dict) -> str:
    """One status line: worker time per hop, load, latency, xruns, underruns."""
    return (f"hop {s['model_hop']} | worker/hop p50 {s['worker_ms_p50']:.1f} ms "
            f"p99 {s['worker_ms_p99']:.1f} ms | load {100 * s['load']:.0f}% | "
            f"latency {s['latency_ms']:.1f} ms ({s['latency_samples']} smp) | "
            f"xruns {s['xruns']} | underruns {s['underruns']}")
