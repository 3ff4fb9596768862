"""The JACK client: :class:`LiveSeparator` opens it, starts the worker, goes live.

See :mod:`rtsep.live` for the structure, the latency and the faults.
"""

from __future__ import annotations

import collections
import gc
import threading
import time
import weakref

import numpy as np

from rtsep.constants import SAMPLE_RATE
from rtsep.errors import ConfigError, JackError
from rtsep.live.control import MAX_PERIOD, SharedBlock, Word, WorkerState
from rtsep.live.mixer import LIVE_OUTPUTS, N_LIVE, db_to_gain
from rtsep.live.plan import Plan, WorkerParams
from rtsep.live.stats import StatsReader
from rtsep.live.worker import Worker

DEFAULT_WORKER = "process"
"""Where the engine runs by default: ``"process"`` or ``"thread"`` (see :mod:`rtsep.live`)."""

DEFAULT_WORKER_NICE = 0
"""Nice value the worker process asks for (see :class:`LiveSeparator`); 0 = unchanged
(-10 showed no measurable benefit on the shared 2-core test machine)."""

DEFAULT_WORKER_RTPRIO = "auto"
"""Realtime priority of the worker process: ``"auto"`` = SCHED_FIFO priority 1 (below
every JACK thread) when a JACK server runs its clients in realtime, else (and on
PipeWire's JACK layer) normal priority; an int N > 0 = priority N; 0 = normal
priority (see :mod:`rtsep.live`)."""


def worker_rtprio_for(requested, client_priority: int, worker: str,
                      pipewire: bool = False) -> int:
    """The SCHED_FIFO priority the worker asks for (0: none).

    Parameters
    ----------
    requested : int or "auto"
    client_priority : int
        Priority of the JACK client's process thread (-1: the server is not realtime).
    worker : "process" or "thread"
        A worker thread keeps its process's priority (it would apply to the host program).
    pipewire : bool
        The server is PipeWire's JACK layer: ``"auto"`` keeps normal priority there (the
        60 s PipeWire test at 48 kHz had 5 underruns with the worker at SCHED_FIFO 1,
        0 at normal priority; why was not found).

    Raises
    ------
    ConfigError
        A priority at or above the client thread's: the worker would delay the audio.
    """
    if worker != "process":
        return 0
    if requested == "auto":
        return 1 if client_priority > 1 and not pipewire else 0
    if 0 < client_priority <= int(requested):
        raise ConfigError(f"worker realtime priority {requested} is not below the JACK client "
                          f"thread's {client_priority}: the worker would delay the audio; "
                          f"use 1-{client_priority - 1}, or auto")
    return int(requested)


def _on_pipewire() -> bool:
    """Whether libjack is PipeWire's JACK layer (its version string names PipeWire)."""
    import jack

    return "pipewire" in str(jack.version_string()).lower()


HANG_S = 2.0
"""A worker process whose heartbeat stands still this long (plus 10x the worst block
measured at start) is hung: it is killed and replaced."""

RAPID_S = 10.0
"""A worker that fails within this many seconds of starting failed "at once"."""

MAX_RAPID_FAILURES = 3
"""After this many workers in a row failed at once, ``rtsep live`` gives up (exit 2)."""

BACKOFF_S = (0.0, 1.0, 2.0)
"""Wait before restarting a worker after 0, 1, 2 failures in a row that came at once."""

RECONNECT_POLL_S = 0.5
"""With ``reconnect``: how often a lost server is looked for."""

RESTORE_S = 30.0
"""With ``reconnect``: how long connections to ports that have not come back yet (another
client still restarting) are retried."""

PORT_NAMES_IN = ("in_L", "in_R")
PORT_NAMES_OUT = tuple(f"{name}_{side}" for name in LIVE_OUTPUTS for side in "LR")


def parse_gains(items) -> tuple:
    """``["vocals=-60", "drums=3"]`` (dB) -> linear gains of the live outputs
    (:data:`rtsep.live.mixer.LIVE_OUTPUTS` order)."""
    gains = [1.0] * N_LIVE
    for item in items or ():
        name, sep, value = str(item).partition("=")
        if not sep or name not in LIVE_OUTPUTS:
            raise ConfigError(f"bad gain {item!r}: use OUTPUT=DB with OUTPUT one of "
                              f"{', '.join(LIVE_OUTPUTS)}")
        try:
            db = float(value)
        except ValueError:
            raise ConfigError(f"bad gain {item!r}: {value!r} is not a number of dB") from None
        gains[LIVE_OUTPUTS.index(name)] = db_to_gain(db)
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
    gains : sequence of 7 floats or dict name -> dB, optional
        Linear gains at start per output (vocals, drums, bass, other, instrumental,
        main, mix); :attr:`controls` changes them while running.
    worker : "process" | "thread"
    threads : int, optional
        Threads the model runtime may use (TensorFlow intra-op); default: all CPUs
        but one (:func:`rtsep.live.plan.live_threads`).
    worker_nice : int
        Nice value of the worker process (negative = more CPU share against other
        programs; needs CAP_SYS_NICE, else a note and normal priority). Not used
        with a worker thread (it would also apply to the main thread).
    worker_rtprio : int or "auto"
        If > 0: SCHED_FIFO priority of the worker process (below JACK's, e.g. 1-4);
        TensorFlow's threads inherit it. Needs realtime rights (else a note and normal
        priority). ``"auto"`` (default): 1 when a JACK server's clients run in realtime,
        else 0 (normal priority): a realtime worker must not preempt a server that is
        not realtime; 0 on PipeWire's JACK layer too (measured: underruns there).
    start_timeout_s : float
        How long loading and warming the model may take.
    midi : bool
        Register a JACK MIDI input ``midi_in`` whose messages drive the controls.
    midi_map : str or os.PathLike or rtsep.live.midi.MidiMap, optional
        Which message drives which control (a JSON file, :mod:`rtsep.live.midi`);
        default: :data:`rtsep.live.midi.DEFAULT_MAP` (an 8-fader controller).
    reconnect : bool
        When the server goes away (a crash, a device change, a session switch),
        wait for a server of the same name to come back, register the same client and
        port names, restore the connections the ports had, report the latency again,
        and play on with the same worker (:meth:`wait`). False: :meth:`wait` returns
        ``"shutdown"``.

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
                 worker_nice: int = DEFAULT_WORKER_NICE,
                 worker_rtprio: int | str = DEFAULT_WORKER_RTPRIO,
                 start_timeout_s: float = 600.0, reconnect: bool = False,
                 midi: bool = True, midi_map=None):
        if worker not in ("process", "thread"):
            raise ConfigError(f"worker must be 'process' or 'thread', got {worker!r}")
        if not (model_hop == "auto" or (isinstance(model_hop, int) and model_hop >= 1)):
            raise ConfigError(f"model_hop must be an integer >= 1 or 'auto', got {model_hop!r}")
        if not isinstance(lookahead, int) or lookahead < 0:
            raise ConfigError(f"lookahead must be an integer >= 0, got {lookahead!r}")
        if isinstance(gains, dict):
            gains = parse_gains(f"{k}={v}" for k, v in gains.items())
        gains = tuple(float(g) for g in (gains or (1.0,) * N_LIVE))
        if len(gains) != N_LIVE:
            raise ConfigError(f"gains must have {N_LIVE} values ({', '.join(LIVE_OUTPUTS)}), "
                              f"got {len(gains)}")
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
        if not (worker_rtprio == "auto" or (isinstance(worker_rtprio, int) and worker_rtprio >= 0)):
            raise ConfigError(f"worker_rtprio must be an integer >= 0 or 'auto', got {worker_rtprio!r}")
        self.worker_rtprio = worker_rtprio
        self.start_timeout_s = float(start_timeout_s)
        self.reconnect = bool(reconnect)
        from rtsep.live.jack.callback import MIDI_RING
        from rtsep.live.midi import DEFAULT_MAP, MidiMap

        self.midi = bool(midi)
        if midi_map is None:
            midi_map = MidiMap(DEFAULT_MAP)
        elif not isinstance(midi_map, MidiMap):
            midi_map = MidiMap.from_file(midi_map)
        self.midi_map = midi_map
        self._midi_ring = np.zeros(MIDI_RING, np.int64)
        self._midi_input = None
        self._midiport = None
        self._connections: dict[str, list[str]] = {}
        self._pending: dict[str, list[str]] = {}
        self._pending_until = 0.0
        self._connections_seen = 0.0
        self._next_try = 0.0
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
        self.worker_events: collections.deque = collections.deque(maxlen=50)
        self._finalizer = None
        self._params: WorkerParams | None = None
        self._worker_started = 0.0
        self._rapid_failures = 0
        self._gave_up = ""
        self._heartbeat = (-1, 0.0)

    # -- properties --------------------------------------------------------------------
    @property
    def worker_pid(self) -> int:
        """Process id of the worker (this process for a worker thread)."""
        return self._worker.pid

    def set_control(self, output: str, field: str, value) -> None:
        """Change an output's ``gain`` (dB), ``mute`` or ``solo`` while running, from any
        thread (:class:`rtsep.live.mixer.Controls`: applied with a 10 ms ramp). Raises
        ValueError for an unknown output, control or value, RuntimeError when stopped."""
        sh = self._sh
        if sh is None:
            raise RuntimeError("the client is not running")
        sh.controls.set(output, field, value)

    def midi_counts(self) -> dict:
        """MIDI messages mapped to a control, ignored, and dropped (ring full) so far."""
        from rtsep.live.jack.callback import MIDI_LOST

        m = self._midi_input
        return {"midi_applied": m.applied if m else 0, "midi_ignored": m.ignored if m else 0,
                "midi_dropped": int(self._midi_ring[MIDI_LOST])}

    def control(self, output: str) -> dict:
        """``{"gain": dB, "mute": bool, "solo": bool}`` of ``output`` now."""
        sh = self._sh
        if sh is None:
            raise RuntimeError("the client is not running")
        return sh.controls.get(output)

    def controls(self) -> dict[str, dict]:
        """:meth:`control` of every output, by name (what a session saves)."""
        return {name: self.control(name) for name in LIVE_OUTPUTS}

    def levels(self) -> dict[str, tuple[float, float]]:
        """Each output's level now: ``{name: (peak dBFS, RMS dBFS)}`` (empty before start)."""
        from rtsep.live.mixer import level_db

        if self._sh is None:
            return {}
        m = self._sh.meters
        return {name: (level_db(m[i, 0]), level_db(m[i, 1])) for i, name in enumerate(LIVE_OUTPUTS)}

    @property
    def latency_samples(self) -> int:
        """Total latency in effect (input to output), in samples at the server's rate;
        what JACK is told."""
        if self._sh is None:
            return self._latency_samples
        ctl = self._sh.ctl
        while True:  # the worker writes the two words one after the other
            lat = int(ctl[Word.ENGINE_LAT] + ctl[Word.PREFILL])
            if lat == int(ctl[Word.ENGINE_LAT] + ctl[Word.PREFILL]):
                return lat

    @property
    def rate(self) -> int:
        """The server's sample rate the worker runs at now (Hz)."""
        if self._sh is None or not self._sh.ctl[Word.RATE]:
            return self.plan.rate if self.plan else SAMPLE_RATE
        return int(self._sh.ctl[Word.RATE])

    # -- start / stop ------------------------------------------------------------------
    def start(self, progress=None) -> "LiveSeparator":
        """Open the client, load and warm the model, activate.

        Parameters
        ----------
        progress : callable(str), optional
            Told what is happening once the server has answered (loading can take
            a while).
        """
        from rtsep.live.jack.server import open_client

        client = open_client(self.client_name, self.servername)
        self._adopt(client)
        if progress is not None:
            progress(f"connected to JACK as {client.name!r} ({client.samplerate} Hz, period "
                     f"{client.blocksize}); loading and warming the model ...")
        try:
            self._start(client)
        except BaseException:
            self.stop()
            raise
        return self

    def _adopt(self, client) -> None:
        """Make ``client`` ours; libjack's own messages (e.g. several lines when the server
        dies) go to :attr:`jack_messages` instead of stderr: our errors say what happened,
        once."""
        import jack

        self.client = client
        jack.set_error_function(self.jack_messages.append)
        jack.set_info_function(self.jack_messages.append)

    def _close_client(self) -> bool:
        """Deactivate (unless the server is gone) and close the client, and drop what
        refers to it; returns whether there was one."""
        client, self.client = self.client, None
        if client is None:
            return False
        if not self._shutdown.is_set():
            try:
                client.deactivate()
            except Exception:  # noqa: BLE001 - server gone while stopping
                pass
        try:
            client.close()
        except Exception:  # noqa: BLE001 - the server is gone
            pass
        # the callbacks (a reference cycle with the client) hold views of the
        # shared memory: collect them so that the block can be closed
        self.reporter = None
        self._inports = self._outports = self._midiport = None
        del client
        gc.collect()
        return True

    @staticmethod
    def _check_server(client) -> int:
        """The server's period, once its rate and period are ones rtsep can run at."""
        from rtsep.live.jack.server import remedy
        from rtsep.live.rate import supported

        why = supported(client.samplerate)
        if why:
            raise JackError(f"the JACK server runs at {client.samplerate} Hz, which rtsep live "
                            f"cannot follow ({why}). {remedy(rate=48000)}")
        period = int(client.blocksize)
        if period > MAX_PERIOD:
            raise JackError(f"JACK period {period} is larger than the {MAX_PERIOD} frames rtsep "
                            f"supports. {remedy(period=1024)}")
        return period

    def _register_ports(self, client) -> None:
        self._inports = [client.inports.register(n) for n in PORT_NAMES_IN]
        self._outports = [client.outports.register(n) for n in PORT_NAMES_OUT]
        self._midiport = client.midi_inports.register("midi_in") if self.midi else None

    def _describe_ports(self, client) -> None:
        """JACK metadata of our ports: pretty names ("Vocals L"), port groups (the stereo
        pairs) and order; a server without metadata support is fine without them."""
        import jack

        try:
            for i, port in enumerate(self._ports()):
                short = port.shortname
                stem, _, side = short.rpartition("_")
                pretty = f"{stem.capitalize()} {side}" if side in ("L", "R") else "MIDI control in"
                client.set_property(port, jack.METADATA_PRETTY_NAME, pretty)
                client.set_property(port, jack.METADATA_ORDER, str(i),
                                    "http://www.w3.org/2001/XMLSchema#integer")
                if side in ("L", "R"):
                    client.set_property(port, jack.METADATA_PORT_GROUP, stem)
        except (jack.JackError, AttributeError, ValueError) as exc:  # pragma: no cover - server dependent
            self.worker_events.append(f"JACK port metadata not set: {exc}")

    def _ports(self) -> list:
        """Every port of ours (audio in, audio out, MIDI in)."""
        return [*self._inports, *self._outports, *([self._midiport] if self._midiport else [])]

    def _start(self, client) -> None:
        period = self._check_server(client)
        self._register_ports(client)

        sh = SharedBlock.create(shared_memory=self.worker == "process")
        self._sh = sh
        # if stop() is never called: stop the worker, remove the shared memory at exit
        self._finalizer = weakref.finalize(self, _emergency_stop, sh)
        sh.controls.set_gains(self.gains)
        sh.ctl[Word.RATE] = int(client.samplerate)
        from rtsep.live.jack import libjack

        params = WorkerParams(period=period, lookahead=self.lookahead, model_hop=self.model_hop,
                              reserve_periods=self.reserve_periods,
                              threads=self.threads, nice=self.worker_nice,
                              rtprio=worker_rtprio_for(self.worker_rtprio,
                                                       libjack.realtime_priority(client),
                                                       self.worker, _on_pipewire()),
                              rate=int(client.samplerate))
        self._params = params
        self._worker.start(self.model, params, sh)
        from rtsep.live.jack.callback import process_callback

        process_callback()  # compile the native callback while the worker loads the model
        self.plan = self._worker.wait_ready(self.start_timeout_s)
        self._worker_started = time.monotonic()
        self._latency_samples = self.plan.latency_samples

        self._go_live(client)
        self._stats.started = time.monotonic()
        if self.midi:
            from rtsep.live.midi import MidiInput

            self._midi_input = MidiInput(self._midi_ring, self, self.midi_map)

    def _go_live(self, client) -> None:
        """Report the latency, install the callbacks, activate (at start and after a
        reconnection)."""
        from rtsep.live.jack.latency import LatencyReporter

        self.reporter = LatencyReporter(client, self._inports, self._outports,
                                        self.latency_samples)
        self._install_callbacks(client)
        client.activate()
        self._describe_ports(client)

    def _install_callbacks(self, client) -> None:
        from rtsep.live.jack import callback

        sh = self._sh
        ctl = sh.ctl
        # the process callback is native code: it never needs the GIL
        self._rt_context = callback.build_context(
            ctl, callback.client_address(client),
            in_ring=sh.ring_in, in_ports=[callback.port_address(p) for p in self._inports],
            out_ring=sh.ring_out, out_ports=[callback.port_address(p) for p in self._outports],
            midi_port=callback.port_address(self._midiport) if self._midiport else 0,
            midi_ring=self._midi_ring)
        callback.set_process_callback(client, self._rt_context)

        def blocksize(frames):
            ctl[Word.PERIOD] = frames
            need = self._prefill_for(frames, int(ctl[Word.RATE]))
            if need > ctl[Word.PREFILL_REQ]:
                ctl[Word.PREFILL_REQ] = need

        def xrun(delayed_usecs):
            ctl[Word.XRUNS] += 1

        def shutdown(status, reason):
            self._shutdown_reason = reason
            self._shutdown.set()

        def samplerate(rate):
            self._set_rate(int(rate))

        self._set_rate(int(client.samplerate))  # a reconnection may find another rate
        blocksize(int(client.blocksize))  # ... or another period
        client.set_blocksize_callback(blocksize)
        client.set_xrun_callback(xrun)
        client.set_shutdown_callback(shutdown)
        client.set_samplerate_callback(samplerate)

    def _prefill_for(self, period: int, rate: int) -> int:
        """Prefill (``P + R``, frames) for ``period`` at ``rate``: the reserve measured at
        start, as a time (rounded up to whole frames at ``rate``)."""
        plan = self.plan
        reserve = plan.reserve_periods * plan.prefill_samples // (1 + plan.reserve_periods)
        return int(period) + -(-reserve * int(rate) // plan.rate)

    def _set_rate(self, rate: int) -> None:
        """The server runs at ``rate`` (JACK's sample-rate callback, or a reconnection):
        the worker follows a change (:meth:`rtsep.live.worker._Loop._follow_rate`), or,
        when rtsep cannot run at that rate, the client stops."""
        from rtsep.live.rate import supported

        ctl = self._sh.ctl
        if rate == int(ctl[Word.RATE]):
            return
        why = supported(rate)
        if why:
            self._shutdown_reason = f"sample rate changed to {rate} Hz ({why})"
            self._shutdown.set()
            return
        ctl[Word.PREFILL_REQ] = self._prefill_for(int(ctl[Word.PERIOD]), rate)
        ctl[Word.RATE] = rate  # after the prefill: the worker reads it when it sees the rate
        self.worker_events.append(f"the server's sample rate changed to {rate} Hz")

    def connect(self, inputs=None, outputs=None) -> list[str]:
        """Connect ports after :meth:`start`.

        Parameters
        ----------
        inputs : sequence of 2 str, optional
            Source ports for ``in_L``, ``in_R`` (one port feeds both).
        outputs : sequence of str, optional
            Each ``PREFIX`` (our 14 outputs, in order, to the input ports whose names
            start with it) or ``OUTPUT=PREFIX`` (that L/R pair to the first two).

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
                if name not in LIVE_OUTPUTS:
                    raise ConfigError(f"--connect-out {spec!r}: unknown output {name!r}; "
                                      f"use one of {', '.join(LIVE_OUTPUTS)}")
                i = LIVE_OUTPUTS.index(name)
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
        if self._midi_input is not None:
            self._midi_input.close()
        had_client = self._close_client()
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

        Meanwhile it supervises: a dead or hung worker process is replaced
        (:meth:`_restart_worker`) and, with ``reconnect``, a server that went away is
        waited for and rejoined (:meth:`_reconnect`); what happened is appended to
        :attr:`worker_events`. So call it while running (the command line does, every
        second).

        Returns
        -------
        str
            ``"shutdown"``, ``"worker"``, ``"stopped"`` or ``"timeout"``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._shutdown.is_set() and (not self.reconnect or self._reconnect() == "failed"):
                return "shutdown"
            failure = self._worker_failure()
            if failure and not self._restart_worker(failure):
                return "worker"
            if stop_event is not None and stop_event.is_set():
                return "stopped"
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return "timeout"
            pause = 0.05 if left is None else min(0.05, left)
            if self._shutdown.is_set():  # waiting for the server: nothing else to do
                time.sleep(pause)
                continue
            self._shutdown.wait(pause)
            self._follow_latency()
            if self.reconnect:
                self._follow_connections()

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
        """A message when the worker stopped for good (it died and could not be
        restarted, see :meth:`wait`), else None."""
        if self._gave_up:
            return self._gave_up
        if self._sh is None or self.worker == "process":
            return None
        return self._worker.failed(self._sh.ctl)

    def _follow_connections(self) -> None:
        """Remember our ports' connections (once a second), to restore them after a
        reconnection; retry the ones whose other end has not come back yet."""
        import jack

        client, now = self.client, time.monotonic()
        if client is None or self._shutdown.is_set():
            return
        if self._pending:
            if now > self._pending_until:
                self.worker_events.append(f"connections not restored (ports gone): {self._pending}")
                self._pending = {}
            else:
                self._pending = self._restore_connections(self._pending)
            return
        if now - self._connections_seen < 1.0:
            return
        self._connections_seen = now
        try:
            self._connections = {p.shortname: [c.name for c in client.get_all_connections(p)]
                                 for p in self._ports()}
        except jack.JackError:  # the server is going away
            pass

    def _restore_connections(self, wanted: dict[str, list[str]]) -> dict[str, list[str]]:
        """Connect our ports to the ports named in ``wanted``; return those still missing."""
        import jack

        client = self.client
        ours = {p.shortname: p for p in self._ports()}
        names = {p.name for p in client.get_ports()}
        missing: dict[str, list[str]] = {}
        for short, others in wanted.items():
            for other in others:
                if other not in names:
                    missing.setdefault(short, []).append(other)
                    continue
                port = ours[short]
                src, dst = (other, port.name) if port.is_input else (port.name, other)
                try:
                    client.connect(src, dst)
                except jack.JackError:
                    missing.setdefault(short, []).append(other)
        return missing

    def _reconnect(self) -> str:
        """The server went away (``reconnect``): one step of coming back as the same
        client with the same ports, connections and latency. The first call closes the
        dead client; each call (at most every :data:`RECONNECT_POLL_S`) looks for a
        server of the same name. The worker and the rings stay as they were: input and
        output positions move together again from the first cycle, so the latency is
        unchanged.

        Returns
        -------
        str
            ``"waiting"`` (no server yet), ``"back"`` (live again) or ``"failed"`` (the
            new server cannot be used: :attr:`shutdown_reason` says why).
        """
        from rtsep.live.jack.server import open_client

        now = time.monotonic()
        if self.client is not None:
            why = self._shutdown_reason or "no reason given"
            self.worker_events.append(f"the JACK server shut down ({why}); waiting for it to "
                                      "come back")
            self._close_client()
            self._next_try = now
        if now < self._next_try:
            return "waiting"
        self._next_try = now + RECONNECT_POLL_S
        try:
            client = open_client(self.client_name, self.servername)
        except JackError:
            return "waiting"
        self._adopt(client)
        try:
            self._check_server(client)
        except JackError as exc:
            self._shutdown_reason = f"the server came back, but {exc}"
            return "failed"
        self._shutdown_reason = ""
        self._shutdown.clear()
        self._register_ports(client)
        self._go_live(client)
        self._pending = self._restore_connections(self._connections)
        self._pending_until = time.monotonic() + RESTORE_S
        self.worker_events.append(f"reconnected to the JACK server as {client.name!r}; latency "
                                  f"{self.latency_samples} samples")
        return "back"

    def _worker_failure(self) -> str | None:
        """Why the worker needs replacing (it died, failed, or its heartbeat stood
        still for :data:`HANG_S`), else None."""
        sh = self._sh
        if sh is None:
            return None
        failed = self._worker.failed(sh.ctl)
        if failed or self.worker != "process" or sh.ctl[Word.STATE] != WorkerState.RUNNING:
            return failed
        beat, now = int(sh.ctl[Word.HEARTBEAT]), time.monotonic()
        if beat != self._heartbeat[0]:
            self._heartbeat = (beat, now)
            return None
        hang_s = HANG_S + 10e-3 * self.plan.block_ms_max
        if now - self._heartbeat[1] > hang_s:
            return f"the worker stopped responding (no heartbeat for {now - self._heartbeat[1]:.1f} s)"
        return None

    def _restart_worker(self, reason: str) -> bool:
        """Replace a dead or hung worker process: same model and plan, same rings, same
        latency; ports and connections untouched. The callback plays the underrun
        output (silence) meanwhile. Returns False (and :meth:`worker_failed` says why)
        when the worker cannot be kept alive: a worker thread, or
        :data:`MAX_RAPID_FAILURES` workers in a row that failed within :data:`RAPID_S`."""
        if self.worker != "process":
            self._gave_up = reason
            return False
        import dataclasses

        sh = self._sh
        params = dataclasses.replace(self._params, model_hop=self.plan.model_hop,
                                     reserve_periods=self.plan.reserve_periods, resume=True,
                                     rate=int(sh.ctl[Word.RATE]),
                                     period=int(sh.ctl[Word.PERIOD]) or self._params.period)
        while True:
            if time.monotonic() - self._worker_started < RAPID_S:
                self._rapid_failures += 1
            else:
                self._rapid_failures = 0
            if self._rapid_failures >= MAX_RAPID_FAILURES:
                self._gave_up = (f"{self._rapid_failures} workers in a row failed within "
                                 f"{RAPID_S:.0f} s of starting; last: {reason}")
                return False
            self.worker_events.append(f"worker restarted: {reason}")
            self._worker.kill()
            self._worker.join()
            time.sleep(BACKOFF_S[min(self._rapid_failures, len(BACKOFF_S) - 1)])
            if self._shutdown.is_set() or sh.ctl[Word.STOP]:
                return True  # the caller sees the shutdown next
            sh.ctl[Word.STATE] = WorkerState.STARTING
            sh.ctl[Word.RESTARTS] += 1
            self._worker = Worker(self.worker)
            self._worker_started = time.monotonic()
            try:
                self._worker.start(self.model, params, sh)
                self._worker.wait_ready(self.start_timeout_s)
            except Exception as exc:  # noqa: BLE001 - counted, then retried or given up
                reason = f"the new worker failed to start: {exc}"
                continue
            self._heartbeat = (-1, 0.0)
            return True

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
