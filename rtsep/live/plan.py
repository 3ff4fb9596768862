"""What the worker decides before the client goes live: model hop and reserve.

:func:`make_plan` warms the model and times it, times the DSP of a frame, picks the
model hop (``"auto"``: the smallest that keeps the worker under
:data:`AUTO_HOP_LOAD` of real time), times the engine on period-sized blocks with the
very buffers the worker loop will use (:class:`Buffers`), and sets the reserve to
:data:`RESERVE_MARGIN` times the worst block. The result is a :class:`Plan` (sent to the
client) and the engine and buffers the loop runs with.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rtsep.constants import HOP, MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_OUTPUTS, SAMPLE_RATE
from rtsep.engine.model import is_streaming
from rtsep.errors import ConfigError, ModelError
from rtsep.live.control import MAX_PERIOD, OUT_CAPACITY

RESERVE_MARGIN = 3.0
"""Reserve >= this times the worst block time measured at start (the lesser of two
passes). 1.5 left the default model 2 underruns in a 10-minute soak (worker p99 37.6 ms
against a 46 ms reserve). 2.0 held on a faster machine, but on a slower 2-core EPYC VM
the default model's hop measured 5.3-6.7 ms at start and up to 15.4 ms live (paced,
quiet): 2.0 gave 3 periods of 256 (17.4 ms) and 14 underruns in 60 s beside the test's
other clients; 3.0 gives it 3-4 periods and the 60 s tests passed. A machine whose
worst block stays under 5.8 ms keeps the 3-period floor."""

MIN_RESERVE_S = 0.015
"""The automatic reserve is at least this long (3 periods of 256 at 44.1 kHz): a worker
at hop 1 computes every 23 ms for a few ms, so a start-up timing of its blocks sees no
tail, and one scheduling delay of a few ms on a loaded machine (the demo beside a
package install: 7 underruns in 20 s with a 1-period reserve) is enough to underrun."""

AUTO_HOP_LOAD = 0.5
"""``--model-hop auto``: worker time per ``K`` frames <= this share of real time."""


@dataclass(frozen=True)
class WorkerParams:
    """What the client asks of the worker (pickled to a worker process).

    Attributes
    ----------
    period : int
        JACK period at start (frames).
    lookahead : int
        Frames of future context.
    model_hop : int or "auto"
    reserve_periods : int or None
        None: measured.
    threads : int or None
        Model threads (None: :func:`live_threads`).
    warm_calls : int
        Model calls the engine is timed over.
    nice, rtprio : int
        Worker process priority (0: unchanged).
    resume : bool
        The worker replaces one that died: it takes over the rings and the latency
        in effect (:meth:`rtsep.live.worker._Loop.take_over`) instead of starting them.
    rate : int
        The server's sample rate at start (Hz); periods, reserve and latency are in
        frames at this rate.
    """

    period: int
    lookahead: int
    model_hop: int | str
    reserve_periods: int | None
    threads: int | None = None
    warm_calls: int = 8
    nice: int = 0
    rtprio: int = 0
    resume: bool = False
    rate: int = SAMPLE_RATE


@dataclass
class Plan:
    """What the worker measured and chose before the client went live.

    Attributes are in samples (frames at the server's rate, :attr:`rate`) or
    milliseconds, as named. ``engine_latency_samples`` includes the resamplers' delay
    at a rate other than 44.1 kHz (:mod:`rtsep.live.rate`).
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
    rate: int = SAMPLE_RATE


def live_threads(cpus: int) -> int:
    """Default model threads live: all CPUs but one, which stays free for JACK.

    Measured (2 cores, default model, realtime dummy server, period 256): with both
    cores TensorFlow's call took the same time (p50 33.3 ms) as with one (32.7 ms) but
    the worker used 70 % of a core instead of 47 %, and the server counted 12 xruns in
    10 minutes against none with one thread (see the README's soak section).
    """
    return max(1, int(cpus) - 1)


class Buffers:
    """The worker's preallocated blocks; :meth:`process` runs the engine on one chunk.

    The plan times the engine through them, so the loop compiles no new Numba
    specialisation after start. At a server rate other than 44.1 kHz a
    :class:`rtsep.live.rate.RateBridge` resamples around the engine.

    Parameters
    ----------
    engine_latency : int
        The engine's latency in samples at 44.1 kHz.
    controls : rtsep.live.mixer.Controls, optional
        Gain, mute and solo of the outputs (the shared block's); default: a private
        table at 0 dB.
    meters : np.ndarray [shape=(N_LIVE, 2), dtype=float64], optional
        Where the outputs' peak and RMS go.
    rate : int
        The server's sample rate.

    Attributes
    ----------
    block : np.ndarray [shape=(CHUNK_MAX, 2), dtype=float32]
        Input of the next chunk (server rate).
    latency : int
        Server samples from an input frame to its output frame (the engine's latency,
        plus the resamplers' at another rate); ``main`` is the input delayed by it.
    mixer : rtsep.live.mixer.Mixer
        Gains with ramps, ``main`` and ``mix``: the 14 channels of the output ring.
    out_max : int
        Most output frames a chunk can give.
    """

    CHUNK_MAX = 4 * HOP

    def __init__(self, engine_latency: int, controls=None, meters=None, rate: int = SAMPLE_RATE):
        from rtsep.live.mixer import CONTROL_FIELDS, N_LIVE, Controls

        n = self.CHUNK_MAX
        self.engine_latency = int(engine_latency)
        self.block = np.zeros((n, N_CHANNELS), np.float32)
        self.out = np.zeros((N_OUTPUTS, n, N_CHANNELS), np.float32)
        if controls is None:
            controls = Controls(np.zeros((N_LIVE, CONTROL_FIELDS)), np.zeros(1, np.int64))
        self._controls, self._meters = controls, meters
        self.set_rate(rate)

    def set_rate(self, rate: int) -> None:
        """Run at server rate ``rate`` from now on (a new stream: reset the engine too)."""
        from rtsep.live.mixer import Mixer
        from rtsep.live.rate import RateBridge

        self.rate = int(rate)
        self.bridge = None
        self.latency = self.engine_latency
        self.out_max = self.CHUNK_MAX
        if self.rate != SAMPLE_RATE:
            self.bridge = RateBridge(self.rate, self.engine_latency, self.CHUNK_MAX)
            self.latency = self.bridge.latency
            self.out_max = max(self.CHUNK_MAX, self.bridge.out_max)
        self.mixer = Mixer(self.latency, self._controls, self.out_max, self._meters, self.rate)

    @property
    def nonfinite(self) -> int:
        """NaN/Inf input samples the resampler replaced (the engine counts its own)."""
        return self.bridge.nonfinite if self.bridge is not None else 0

    def reset(self) -> None:
        """A new stream: the mixer's delayed input and the resamplers forget."""
        self.mixer.reset()
        if self.bridge is not None:
            self.bridge.reset()

    def process(self, engine, n: int) -> tuple[np.ndarray, int]:
        """``block[:n]`` through the engine and the mixer.

        Returns
        -------
        out_cm : np.ndarray [shape=(14, >= out_max), dtype=float32]
            :attr:`rtsep.live.mixer.Mixer.out_cm`.
        count : int
            Its valid columns (``n`` at 44.1 kHz; within a couple of frames of it at
            another rate).
        """
        if self.bridge is None:
            out = self.out[:, :n]
            engine.process(self.block[:n], out=out)
            return self.mixer.process(self.out, self.block, n), n
        m = self.bridge.process(engine, self.block, n, self.mixer.out_cm)
        return self.mixer.process_stems(self.block, n, m), m


def _time_calls(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def _time_model(model, rng, frames: int = 1) -> float:
    """Median seconds of a model call (after two warm-up calls): a 192-frame window, or
    for a streaming model a step of ``frames`` new frames (compiled for them first)."""
    if is_streaming(model):
        from rtsep.engine import StreamConfig

        model.bind(StreamConfig(model_hop_frames=frames))
        x = (0.1 * rng.random((1, MODEL_BINS, frames, N_CHANNELS))).astype(np.float32)
        call = lambda: model.step(x)  # noqa: E731
    else:
        window = (0.1 * rng.random((1, MODEL_BINS, MODEL_FRAMES, N_CHANNELS))).astype(np.float32)
        call = lambda: model(window)  # noqa: E731
    for _ in range(2):
        call()
    t = float(np.median(_time_calls(call, 5)))
    if is_streaming(model):
        model.reset()
    return t


def _time_dsp(lookahead: int, rng, streaming: bool = False) -> float:
    """Median seconds of the DSP of one frame: the engine with a model that costs nothing,
    driven as the model will be (``streaming``: the new frame only; else a 192-frame
    window assembled every hop)."""
    from rtsep.engine import StreamConfig, StreamingSeparator
    from rtsep.runtime.stand_ins import NullModel

    engine = StreamingSeparator(NullModel(streaming), StreamConfig(lookahead_frames=lookahead,
                                                                   model_hop_frames=1))
    blk = (0.05 * rng.standard_normal((HOP, N_CHANNELS))).astype(np.float32)
    blk_out = np.empty((N_OUTPUTS, HOP, N_CHANNELS), np.float32)
    for _ in range(4):
        engine.process(blk, out=blk_out)
    return float(np.median(_time_calls(lambda: engine.process(blk, out=blk_out), 10)))


def _fits(t_model: float, t_dsp: float, k: int) -> bool:
    """Whether a model call plus ``k`` frames of DSP fit :data:`AUTO_HOP_LOAD` of ``k`` hops."""
    return t_model + k * t_dsp <= AUTO_HOP_LOAD * k * HOP / SAMPLE_RATE


def _auto_hop(t_model: float, t_dsp: float, lookahead: int) -> int:
    """The smallest model hop whose worker time fits :data:`AUTO_HOP_LOAD` of real time
    (a window model: one call, whatever the hop, costs ``t_model``)."""
    k_max = MODEL_FRAMES - lookahead
    for k in range(1, k_max + 1):
        if _fits(t_model, t_dsp, k):
            return k
    raise ModelError(
        f"the model is too slow for real time: {1e3 * t_model:.1f} ms per call plus "
        f"{1e3 * t_dsp:.2f} ms DSP per frame never fits half of real time with any "
        f"model hop <= {k_max} frames; use a faster model or a GPU")


STREAM_HOPS = (1, 2, 4, 8, 16, 32, 64)
"""Model hops tried, in order, for a streaming model (each is compiled and timed)."""


def _auto_stream_hop(model, t_one: float, t_dsp: float, rng) -> tuple[int, float]:
    """The smallest of :data:`STREAM_HOPS` whose step fits; ``(k, seconds per step)``.

    A streaming model's step costs about in proportion to the frames it emits (plus a
    fixed dispatch cost), so a larger hop helps only a little: usually hop 1 fits."""
    t = t_one
    for k in STREAM_HOPS:
        if k > 1:
            t = _time_model(model, rng, k)
        if _fits(t, t_dsp, k):
            return k, t
    raise ModelError(
        f"the streaming model is too slow for real time: {1e3 * t:.1f} ms per step of {k} "
        f"frames plus {1e3 * t_dsp:.2f} ms DSP per frame never fits half of real time; "
        "use a faster model or a GPU")


def _time_blocks(engine, bufs: Buffers, params: WorkerParams, rng) -> np.ndarray:
    """Seconds per period-sized block: the warm-up fill, then ``warm_calls`` model calls.

    Each block's time is the lesser of two timed passes over the same input: a block
    that is slow by its work is slow in both, a block that another program or the
    hypervisor delayed once is not (on a 2-core VM beside ``stress-ng``, a start-up
    timing whose worst block took 15-17 ms set a soak's reserve to 6 periods instead
    of 3, its latency to 5887 samples instead of 5119). Delays during the run are what
    the reserve's margin and floor are for."""
    period = params.period
    k = engine.config.model_hop_frames
    engine_frames = (params.warm_calls * k * HOP + 4 * HOP) * params.rate / SAMPLE_RATE
    n_blocks = math.ceil(engine_frames / period)
    noise = (0.05 * rng.standard_normal((n_blocks * period, N_CHANNELS))).astype(np.float32)
    times = np.full((3, n_blocks), np.inf)
    # Three passes, the first untimed: one-off costs of the first blocks (page faults,
    # lazy initialisation) would otherwise set the reserve for the whole run. Back to
    # back the default model's hop measured 5.3-6.7 ms on a slower 2-core EPYC VM where a
    # loop paced as live took 7.7 ms median and 12.6-15.4 ms at worst (RESERVE_MARGIN
    # covers the difference). Pacing these passes (a sleep of the period after each
    # block) measured 6.0-8.0 ms, but there made PipeWire's clock jump during the click
    # tests that follow a start (3 of 4 runs of the 48 kHz tests failed): not done.
    for p in range(3):
        engine.reset()
        bufs.reset()
        for b in range(n_blocks):
            bufs.block[:period] = noise[b * period:(b + 1) * period]
            t0 = time.perf_counter()
            bufs.process(engine, period)
            times[p, b] = time.perf_counter() - t0
    return times[1:].min(axis=0)


def make_plan(model, params: WorkerParams, warmup_s: float = 0.0, device: str = "cpu",
              controls=None, meters=None):
    """Build the engine, warm and time it; choose the model hop and the reserve.

    Parameters
    ----------
    model : callable
        The loaded model (:mod:`rtsep.engine.model`).
    params : WorkerParams
    warmup_s : float
        Seconds the model's loading spent warming up (reported).
    device : str
        Where the model runs, in words (a ``device`` attribute of the model wins).
    controls, meters : optional
        The shared block's (:class:`Buffers`); the timing runs through them.

    Returns
    -------
    engine : rtsep.engine.StreamingSeparator
        Reset, ready for the first block.
    buffers : Buffers
        The blocks the engine was timed with; the loop runs with them.
    plan : Plan
    """
    from rtsep.engine import StreamConfig, StreamingSeparator

    period_s = params.period / params.rate
    rng = np.random.default_rng(0)
    t_model = _time_model(model, rng)
    device = str(getattr(model, "device", device))
    t_dsp = _time_dsp(params.lookahead, rng, is_streaming(model))
    notes = []
    if params.model_hop == "auto" and is_streaming(model):
        k, t_model = _auto_stream_hop(model, t_model, t_dsp, rng)
        notes.append(f"model hop auto: {k} frame(s) (streaming model: {1e3 * t_model:.2f} ms per "
                     f"step of {k}, {1e3 * t_dsp:.2f} ms DSP per frame, budget "
                     f"{AUTO_HOP_LOAD:.0%} of real time)")
    elif params.model_hop == "auto":
        k = _auto_hop(t_model, t_dsp, params.lookahead)
        notes.append(f"model hop auto: {k} frame(s) ({1e3 * t_model:.1f} ms per model call, "
                     f"{1e3 * t_dsp:.2f} ms DSP per frame, budget {AUTO_HOP_LOAD:.0%} of real time)")
    else:
        k = int(params.model_hop)
    engine = StreamingSeparator(model, StreamConfig(lookahead_frames=params.lookahead,
                                                    model_hop_frames=k))
    bufs = Buffers(engine.latency_samples, controls, meters, params.rate)
    if bufs.bridge is not None:
        notes.append(f"server at {params.rate} Hz: resampled to {SAMPLE_RATE} Hz and back, "
                     f"engine latency {engine.latency_samples} samples at {SAMPLE_RATE} Hz = "
                     f"{bufs.latency} at {params.rate} Hz with the resamplers (exact)")
    times = _time_blocks(engine, bufs, params, rng)
    load = float(times.sum() / (len(times) * period_s))
    if load >= 1.0:
        raise ModelError(
            f"the model is too slow for real time: the engine needs {load:.2f} s per second of "
            f"audio at model hop {k} ({1e3 * t_model:.1f} ms per model call); "
            "use --model-hop auto or a larger hop, a faster model, or a GPU")
    if load > 0.8:
        notes.append(f"warning: worker load {load:.0%} of real time at start; underruns are likely")
    t_max = float(times.max())
    reserve = _reserve_periods(params, t_max / period_s)
    prefill = (1 + reserve) * params.period
    engine.reset()
    bufs.reset()  # the timing's noise must not come out of the main pair
    plan = Plan(model_hop=k, engine_latency_samples=bufs.latency,
                reserve_periods=reserve, prefill_samples=prefill,
                latency_samples=bufs.latency + prefill,
                model_ms=1e3 * t_model, dsp_ms_per_frame=1e3 * t_dsp,
                block_ms_p50=1e3 * float(np.median(times)), block_ms_max=1e3 * t_max,
                load=load, warmup_s=warmup_s, device=device, notes=notes, rate=params.rate)
    return engine, bufs, plan


def _reserve_periods(params: WorkerParams, worst_periods: float) -> int:
    """The reserve in periods: asked for, or :data:`RESERVE_MARGIN` x the worst block."""
    if params.reserve_periods is None:
        floor = math.ceil(MIN_RESERVE_S * params.rate / params.period)
        reserve = max(1, floor, math.ceil(RESERVE_MARGIN * worst_periods))
    else:
        reserve = int(params.reserve_periods)
        if reserve < 0:
            raise ConfigError(f"reserve_periods must be >= 0, got {reserve}")
    if (1 + reserve) * params.period + 2 * MAX_PERIOD + 8 * HOP > OUT_CAPACITY:
        raise ModelError(f"the reserve needed ({reserve} periods of {params.period}) exceeds the "
                         "output ring; the model is too slow")
    return reserve
