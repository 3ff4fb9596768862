"""The JACK client: :class:`LiveSeparator` opens it, starts the worker, goes live.

See :mod:`rtsep.live` for the structure, the latency and the faults.
"""

from __future__ import annotations

import collections
import gc
import threading
import time
import weakref

from rtsep.constants import N_OUTPUTS, OUTPUTS, SAMPLE_RATE
from rtsep.errors import ConfigError, JackError
from rtsep.live.control import MAX_PERIOD, SharedBlock, Word
from rtsep.live.plan import Plan, WorkerParams
from rtsep.live.stats import StatsReader
from rtsep.live.worker import Worker

DEFAULT_WORKER = "process"
"""Where the engine runs by default: ``"process"`` or ``"thread"`` (see :mod:`rtsep.live`)."""

DEFAULT_WORKER_NICE = 0
"""Nice value the worker process asks for (see :class:`LiveSeparator`); 0 = unchanged
(-10 showed no measurable benefit on the shared 2-core test machine)."""

PORT_NAMES_IN = ("in_L", "in_R")
PORT_NAMES_OUT = tuple(f"{name}_{side}" for name in OUTPUTS for side in "LR")


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
        but one (:func:`rtsep.live.plan.live_threads`).
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
        self._sh: SharedBlock | None = None
        self._worker = Worker(worker)
        self._shutdown = threading.Event()
        self._shutdown_reason = ""
        self._stats = StatsReader(worker)
        self._latency_samples = 0
        self.jack_messages: collections.deque = collections.deque(maxlen=50)
        self._finalizer = None

    # -- properties --------------------------------------------------------------------
    @property
    def worker_pid(self) -> int:
        """Process id of the worker (this process for a worker thread)."""
        return self._worker.pid

    @property
    def latency_samples(self) -> int:
        """Total latency in effect (input to output), in samples; what JACK is told."""
        if self._sh is None:
            return self._latency_samples
        return int(self._sh.ctl[Word.ENGINE_LAT] + self._sh.ctl[Word.PREFILL])

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

        from rtsep.live.jack.server import open_client

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

        sh = SharedBlock.create(shared_memory=self.worker == "process")
        self._sh = sh
        # if stop() is never called: stop the worker, remove the shared memory at exit
        self._finalizer = weakref.finalize(self, _emergency_stop, sh)
        params = WorkerParams(period=period, lookahead=self.lookahead, model_hop=self.model_hop,
                              reserve_periods=self.reserve_periods, gains=self.gains,
                              threads=self.threads, nice=self.worker_nice,
                              rtprio=self.worker_rtprio)
        self._worker.start(self.model, params, sh)
        from rtsep.live.jack.callback import process_callback

        process_callback()  # compile the native callback while the worker loads the model
        self.plan = self._worker.wait_ready(self.start_timeout_s)
        self._latency_samples = self.plan.latency_samples

        from rtsep.live.jack.latency import LatencyReporter

        self.reporter = LatencyReporter(client, self._inports, self._outports,
                                        self.plan.latency_samples)
        self._install_callbacks(client)
        client.activate()
        self._stats.started = time.monotonic()

    def _install_callbacks(self, client) -> None:
        from rtsep.live.jack import callback

        sh = self._sh
        ctl = sh.ctl
        # the process callback is native code: it never needs the GIL
        self._rt_context = callback.build_context(
            ctl, callback.client_address(client),
            in_ring=sh.ring_in, in_ports=[callback.port_address(p) for p in self._inports],
            out_ring=sh.ring_out, out_ports=[callback.port_address(p) for p in self._outports])
        callback.set_process_callback(client, self._rt_context)

        def blocksize(frames):
            ctl[Word.PERIOD] = frames
            plan = self.plan
            need = frames + plan.reserve_periods * plan.prefill_samples // (1 + plan.reserve_periods)
            if need > ctl[Word.PREFILL_REQ]:
                ctl[Word.PREFILL_REQ] = need

        def xrun(delayed_usecs):
            ctl[Word.XRUNS] += 1

        def shutdown(status, reason):
            self._shutdown_reason = reason
            self._shutdown.set()

        def samplerate(rate):
            if rate != SAMPLE_RATE:
                self._shutdown_reason = f"sample rate changed to {rate} Hz"
                self._shutdown.set()

        ctl[Word.PERIOD] = client.blocksize
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
            sh.ctl[Word.STOP] = 1
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
        self._worker.join()
        if sh is not None:
            self._stats_final = self._stats.read(sh, self.plan, self._latency_samples)
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
        if self._sh is None or not self._sh.ctl[Word.CYCLES]:
            return None
        return int(self._sh.ctl[Word.FIRST_FRAME])

    @property
    def shutdown_reason(self) -> str:
        return self._shutdown_reason

    def worker_failed(self) -> str | None:
        """A message when the worker stopped unexpectedly, else None."""
        if self._sh is None:
            return None
        return self._worker.failed(self._sh.ctl)

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
        return self._stats.read(self._sh, self.plan, self._latency_samples)


def _emergency_stop(sh: SharedBlock) -> None:
    if sh.ctl is not None:
        sh.ctl[Word.STOP] = 1
    if sh.shm is not None:
        try:
            sh.shm.unlink()
        except FileNotFoundError:
            pass
