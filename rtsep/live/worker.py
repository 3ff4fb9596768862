"""The separation worker: loads the model, plans, then feeds the engine from the rings.

It runs as a thread of the client, or as a process of its own started as
``python -m rtsep.live.worker`` (the default, :data:`rtsep.live.client.DEFAULT_WORKER`):
that process reads its job (model, :class:`~rtsep.live.plan.WorkerParams`, the name of
the shared block) pickled on stdin and reports through the pipe whose descriptor is in
``$RTSEP_WORKER_FD``. :class:`Worker` is the client's handle on either kind.

The loop (:class:`_Loop`) reads the input ring, runs the engine on chunks of at most
:attr:`~rtsep.live.plan.Buffers.CHUNK_MAX` frames and writes the output ring, keeping
output position ``p`` on input sample ``p - latency`` through input loss and lateness
(see :mod:`rtsep.live`, "Faults").
"""

from __future__ import annotations

import gc
import os
import threading
import time
import traceback

import numpy as np

from rtsep.errors import ConfigError, JackError, ModelError, RtsepError
from rtsep.live.control import HIST, SharedBlock, Word, WorkerState
from rtsep.live.plan import Plan, WorkerParams, live_threads, make_plan


class _Loop:
    """The worker loop's state: positions, counters seen, the engine and its buffers.

    Invariant: output position ``p`` holds input ``p - latency``. The engine's stream
    starts at input position :attr:`start` (a restart, a rate change) with the output
    ring's write position at ``start + PREFILL``; from then on it writes one output
    frame per input frame (at 44.1 kHz exactly; through the resamplers within a frame
    or two, without drift).
    """

    def __init__(self, engine, bufs, sh: SharedBlock):
        self.engine, self.bufs = engine, bufs
        self.ctl, self.hist = sh.ctl, sh.hist
        self.rin, self.rout = sh.ring_in, sh.ring_out
        self.lost_seen = 0
        self.in_abs = 0  # absolute position of the next input frame fed to the engine
        self.skip_in = 0  # input frames to drop before the next chunk (stream alignment)
        self.rate = bufs.rate
        self._restarted()

    def take_over(self) -> None:
        """Continue the rings of a worker that died, at the latency in effect.

        Invariant of every worker: output position ``p`` holds input ``p - latency``,
        so the output ring's write position is (within the resamplers' frame or two)
        ``in_abs + PREFILL``. The input buffered meanwhile is stale (its output is
        overdue): it is dropped, and the engine starts empty at the newest input
        (:meth:`_restart_at`: silence up to it in the output ring).
        """
        self._restart_at(self._drop_input(), reset=False)

    def _drop_input(self) -> int:
        """Drop all buffered input; the absolute position of the next input frame."""
        rin = self.rin
        while True:
            lost = rin.lost
            w = rin.write_pos
            if rin.lost == lost:
                break
        rin.skip(w - rin.read_pos)
        self.lost_seen = lost
        return w + lost

    def _restarted(self) -> None:
        self.calls_seen = self.engine.model_calls
        self.nonfinite_base = self.engine.nonfinite_count + self.bufs.nonfinite
        self.busy_hop = 0  # ns inside process() since the last model call

    def _restart_at(self, start: int, reset: bool = True) -> None:
        """Start the engine's stream at absolute input position ``start`` (the next
        frame the input ring gives): silence in the output ring up to ``start +
        PREFILL``, or, when output already reaches past it, drop that much more input
        first. Frames of output given up for it are counted as skipped."""
        if reset:
            self.engine.reset()
        self.bufs.reset()
        self._restarted()
        target = start + int(self.ctl[Word.PREFILL])
        gap = target - self.rout.write_pos
        if gap > 0:
            self.rout.write(None, gap)
        self.skip_in = max(0, -gap)
        self.ctl[Word.SKIPPED] += abs(gap)
        self.in_abs = start

    def run(self, parent_pid: bool = False) -> None:
        """Feed available input to the engine and its output to the output ring until stopped."""
        ctl = self.ctl
        ctl[Word.STATE] = WorkerState.RUNNING
        parent = os.getppid() if parent_pid else 0
        t_check = time.monotonic()
        while not ctl[Word.STOP]:
            ctl[Word.HEARTBEAT] += 1
            if parent and time.monotonic() - t_check > 0.5:  # the client process died
                t_check = time.monotonic()
                if os.getppid() != parent:
                    break
            period = max(int(ctl[Word.PERIOD]), 1)
            if int(ctl[Word.RATE]) != self.rate:
                self._follow_rate()
            self._follow_prefill()
            if not self._resync_after_loss():
                continue
            avail = self.rin.available()
            if avail > 0 and self.skip_in:
                k = min(avail, self.skip_in)
                self.rin.skip(k)
                self.in_abs += k
                self.skip_in -= k
                avail -= k
            if avail <= 0:
                time.sleep(min(max(period / self.rate / 4, 2e-4), 2e-3))
                continue
            avail = self._relock_if_overdue(avail, period)
            self._feed(min(avail, self.bufs.CHUNK_MAX))
        ctl[Word.STATE] = WorkerState.STOPPED

    def _follow_rate(self) -> None:
        """The server's rate changed: rebuild the resamplers, restart the stream at the
        newest input at the new latency (the client reports it), count the event.

        What the output ring already holds plays out; the input buffered meanwhile was
        (partly) recorded at the old rate and is dropped. The main thread wrote the new
        rate's ``PREFILL_REQ`` before the new ``RATE``.
        """
        ctl = self.ctl
        rate = int(ctl[Word.RATE])
        self.bufs.set_rate(rate)
        self.rate = rate
        prefill = int(ctl[Word.PREFILL_REQ])
        ctl[Word.PREFILL] = prefill
        ctl[Word.ENGINE_LAT] = self.bufs.latency
        self._restart_at(self._drop_input())
        ctl[Word.RATE_CHANGES] += 1

    def _follow_prefill(self) -> None:
        """A larger period than at start: more prefill (silence), reported as more latency."""
        want = int(self.ctl[Word.PREFILL_REQ])
        have = int(self.ctl[Word.PREFILL])
        if want > have:
            self.rout.write(None, want - have)
            self.ctl[Word.PREFILL] = want

    def _resync_after_loss(self) -> bool:
        """Input lost while the ring was full: drop what is buffered, re-synchronise.

        Returns False when the callback lost more meanwhile (look again).
        """
        rin = self.rin
        lost = rin.lost
        if lost == self.lost_seen:
            return True
        w = rin.write_pos
        if rin.lost != lost:
            return False
        rin.skip(w - rin.read_pos)
        self.lost_seen = lost
        self._restart_at(w + lost)
        return True

    def _relock_if_overdue(self, avail: int, period: int) -> int:
        """Output for the next input frame already overdue: drop all but the newest
        period of input so that the output ring is back at its target fill, and restart
        the engine (the audio still inside it belongs to positions that were played as
        silence and must not come out later, misplaced). Returns the frames left."""
        if self.rout.write_pos < self.rout.read_pos and avail > period:
            drop = avail - period
            self.rin.skip(drop)
            self._restart_at(self.in_abs + drop)
            avail -= drop
        return avail

    def _feed(self, n: int) -> None:
        """``n`` input frames through the engine into the output ring; count."""
        ctl, rout, engine, bufs = self.ctl, self.rout, self.engine, self.bufs
        while rout.space() < bufs.out_max and not ctl[Word.STOP]:  # never in normal operation
            ctl[Word.HEARTBEAT] += 1
            time.sleep(1e-3)
        self.rin.read(bufs.block, n)
        t0 = time.perf_counter_ns()
        out_cm, m = bufs.process(engine, n)
        dt = time.perf_counter_ns() - t0
        ctl[Word.DROPPED] += rout.write(out_cm, m)
        self.in_abs += n
        ctl[Word.FED] += n
        ctl[Word.BUSY_NS] += dt
        if n > ctl[Word.FRAMES_MAX]:
            ctl[Word.FRAMES_MAX] = n
        self.busy_hop += dt
        calls = engine.model_calls
        if calls != self.calls_seen:
            i = int(ctl[Word.HIST_N])
            self.hist[i % HIST] = self.busy_hop * 1e-6
            ctl[Word.HIST_N] = i + 1
            ctl[Word.HOPS] += calls - self.calls_seen
            self.calls_seen = calls
            self.busy_hop = 0
        bad = engine.nonfinite_count + bufs.nonfinite
        if bad != self.nonfinite_base:
            ctl[Word.NONFINITE] += bad - self.nonfinite_base
            self.nonfinite_base = bad


def _raise_priority(nice: int, rtprio: int = 0) -> str | None:
    """Raise the worker process's priority before TensorFlow starts its threads (which
    inherit it): a lower nice value, or SCHED_FIFO at ``rtprio`` (keep it below
    JACK's client threads, 5 by default in jackd2). Returns a note saying what it
    got (None when nothing was asked)."""
    what = f"realtime priority {rtprio} (SCHED_FIFO)" if rtprio else f"nice value {nice}"
    try:
        if rtprio:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(rtprio)))
        elif nice:
            os.setpriority(os.PRIO_PROCESS, 0, int(nice))
        else:
            return None
    except (PermissionError, OSError) as exc:
        return (f"could not give the worker {what} ({exc.strerror or exc}); it runs at normal "
                "priority (needs the rights JACK's realtime group has: rtprio/nice limits in "
                "/etc/security/limits.conf, or CAP_SYS_NICE)")
    return f"worker process: {what}"


def _load(source, threads: int | None):
    """The model (a callable, or a spec loaded by :func:`rtsep.runtime.load_model`), its
    warm-up seconds and its device."""
    from rtsep.runtime.loader import load_model  # TensorFlow: only on the worker

    if threads is None and not callable(source):
        from rtsep.runtime.compiled import available_cpus

        threads = live_threads(available_cpus())
    model = load_model(source, threads=threads, batch_size=1)
    return model, float(getattr(model, "warmup_s", 0.0)), str(getattr(model, "device", "cpu"))


def worker_main(source, params: WorkerParams, shared, conn, quiet: bool = False) -> None:
    """Worker entry (thread or process): load, plan, report, loop.

    Parameters
    ----------
    source : callable or str
        The model, or its spec.
    params : WorkerParams
    shared : SharedBlock or str
        The block, or (a worker process) its name.
    conn : multiprocessing.connection.Connection
        Receives ``("ready", Plan)``, ``("error", class name, message)`` or
        ``("crash", what, traceback)``.
    quiet : bool
        (Worker process.) stderr goes to a temporary file while the model loads; it
        is shown only if loading crashes.
    """
    own = isinstance(shared, str)
    sh = SharedBlock.attach(shared) if own else shared
    loop = engine = bufs = None
    hush = _QuietStderr() if quiet else None
    priority_note = _raise_priority(params.nice, params.rtprio) if own else None
    try:
        model, warmup_s, device = _load(source, params.threads)
        engine, bufs, plan = make_plan(model, params, warmup_s, device, sh.controls, sh.meters)
        # Move everything loading the model created (Keras/TensorFlow: ~400,000
        # objects) out of the cyclic collector's reach: a full collection over them
        # took 150-200 ms here, far beyond the reserve, and came at random times.
        # (A worker thread does this for its whole process.) Before "ready": the
        # client goes live as soon as it hears it.
        gc.collect()
        gc.freeze()
        if priority_note:
            plan.notes.append(priority_note)
        if hush is not None:
            hush.restore()
        loop = _Loop(engine, bufs, sh)
        if params.resume:
            if plan.engine_latency_samples != sh.ctl[Word.ENGINE_LAT]:
                raise ModelError(f"the new worker's engine latency {plan.engine_latency_samples} "
                                 f"differs from the {int(sh.ctl[Word.ENGINE_LAT])} in effect")
            loop.take_over()
            sh.ctl[Word.STATE] = WorkerState.READY
        else:
            _publish_plan(sh, plan, params.period)
        conn.send(("ready", plan))
    except RtsepError as exc:
        sh.ctl[Word.STATE] = WorkerState.FAILED
        conn.send(("error", type(exc).__name__, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the main side, which raises
        sh.ctl[Word.STATE] = WorkerState.FAILED
        text = traceback.format_exc()
        if hush is not None:
            text = f"{hush.text()}\n{text}"
        try:
            conn.send(("crash", type(exc).__name__, text))
        except OSError:  # the main side is gone (its pipe broke): nobody to tell
            pass
    finally:
        if hush is not None:
            hush.restore()
    if loop is not None and sh.ctl[Word.STATE] == WorkerState.READY:
        try:
            loop.run(parent_pid=own)
        except BaseException:  # noqa: BLE001
            sh.ctl[Word.STATE] = WorkerState.FAILED
            try:
                conn.send(("crash", "worker", traceback.format_exc()))
            except OSError:
                pass
    # views of the shared block (the loop's rings, the mixer's controls and meters)
    # must go before the block can be closed
    loop = engine = bufs = None
    if own:
        sh.close()


def _publish_plan(sh: SharedBlock, plan: Plan, period: int) -> None:
    """The plan's figures into the control words, the prefill into the output ring; ready."""
    sh.ctl[Word.PREFILL] = plan.prefill_samples
    sh.ctl[Word.PREFILL_REQ] = plan.prefill_samples
    sh.ctl[Word.ENGINE_LAT] = plan.engine_latency_samples
    sh.ctl[Word.PERIOD] = period
    sh.ring_out.write(None, plan.prefill_samples)
    sh.ctl[Word.STATE] = WorkerState.READY


class _QuietStderr:
    """Send file descriptor 2 to a temporary file (TensorFlow's C++ start-up chatter).

    ``text()`` returns what was written (for a crash report; empty once restored);
    ``restore()`` puts stderr back.
    """

    def __init__(self):
        import tempfile

        sys_stderr = 2
        self._saved = os.dup(sys_stderr)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), sys_stderr)

    def text(self, n_chars: int = 4000) -> str:
        if self._file.closed:  # restored already: what it caught was shown or dropped
            return ""
        self._file.seek(0)
        return self._file.read().decode(errors="replace")[-n_chars:]

    def restore(self) -> None:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
            self._file.close()


def worker_backend_env(model) -> dict[str, str]:
    """Environment that picks the worker process's Keras backend for ``model``.

    A streaming (``stream_*``) artifact is stepped one model hop at a time: through
    Keras on JAX-XLA, with one CPU thread, when JAX is installed (a step of the default
    took 1.4-1.9 ms there against 7-11 ms through TensorFlow on the 2-core machine;
    ``benchmarks/model.py``). Window models, and any process whose user set
    ``KERAS_BACKEND``, keep the backend they would have had.

    Parameters
    ----------
    model : callable or str or os.PathLike
        The worker's model or its spec.

    Returns
    -------
    dict
        Variables to add to the worker's environment (empty: none).
    """
    from rtsep.runtime.artifact import artifact_arch
    from rtsep.runtime.stream import jax_available, jax_environment

    if callable(model) or "KERAS_BACKEND" in os.environ:
        return {}
    arch = artifact_arch(model)
    if arch is None or not arch.startswith("stream_") or not jax_available():
        return {}
    return jax_environment(threads=1)


class Worker:
    """The client's handle on its worker: a thread, or a child interpreter.

    Parameters
    ----------
    kind : "process" | "thread"
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._conn = None
        self._proc = None
        self._thread = None

    @property
    def pid(self) -> int:
        """Process id of the worker (this process for a worker thread)."""
        return self._proc.pid if self._proc is not None else os.getpid()

    def start(self, model, params: WorkerParams, sh: SharedBlock) -> None:
        """Start loading ``model`` on the worker (it reports when ready)."""
        import multiprocessing.connection as mpc
        import pickle
        import subprocess
        import sys

        if self.kind == "thread":
            recv, send = mpc.Pipe(duplex=False)
            self._conn = recv
            self._thread = threading.Thread(target=worker_main, name="rtsep-worker",
                                            args=(model, params, sh, send), daemon=True)
            self._thread.start()
            return
        # A plain child interpreter (not multiprocessing's spawn, which re-imports the
        # caller's __main__): job pickled on stdin, messages back through a pipe.
        try:
            job = pickle.dumps((model, params, sh.shm.name))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ConfigError(f"the model cannot be sent to a worker process ({exc}); "
                              "use worker='thread' or a picklable model") from None
        r, w = os.pipe()
        env = dict(os.environ, **worker_backend_env(model), RTSEP_WORKER_FD=str(w))
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "rtsep.live.worker"],
                                          stdin=subprocess.PIPE, pass_fds=(w,), env=env)
        finally:
            os.close(w)
        self._conn = mpc.Connection(r, writable=False)
        self._proc.stdin.write(job)
        self._proc.stdin.close()

    def wait_ready(self, timeout_s: float) -> Plan:
        """The worker's :class:`Plan` once it is ready; raises what the worker reported."""
        deadline = time.monotonic() + timeout_s
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
        raise ModelError(f"loading and warming the model took longer than {timeout_s:.0f} s")

    def failed(self, ctl: np.ndarray) -> str | None:
        """A message when the worker stopped unexpectedly, else None."""
        if ctl[Word.STATE] == WorkerState.FAILED or (self._proc is not None
                                                      and self._proc.poll() is not None):
            text = "the worker stopped"
            if self._conn is not None and self._conn.poll():
                try:
                    text = self._conn.recv()[-1]
                except (EOFError, OSError):
                    pass
            return text
        return None

    def kill(self) -> None:
        """End a worker process now (SIGKILL: it may be hung or stopped)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def join(self) -> None:
        """Wait for the worker to end (after ``Word.STOP``); kill a process that does not."""
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


def main() -> int:
    """Entry of ``python -m rtsep.live.worker``: job on stdin, messages on ``$RTSEP_WORKER_FD``."""
    import multiprocessing.connection as mpc
    import pickle
    import sys

    conn = mpc.Connection(int(os.environ["RTSEP_WORKER_FD"]), readable=False)
    source, params, shm_name = pickle.loads(sys.stdin.buffer.read())
    worker_main(source, params, shm_name, conn, quiet=not os.environ.get("RTSEP_WORKER_VERBOSE"))
    conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
