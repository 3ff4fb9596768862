"""``rtsep bridge``: the engine side of the LV2 plugin (see :mod:`rtsep.bridge`).

:class:`BridgeServer` listens on a Unix socket. A plugin instance connects in its
``instantiate()`` and sends one line, ``hello RATE BLOCK``; the server checks the rate,
creates a shared block and a worker thread for it (the live worker:
:func:`rtsep.live.worker.worker_main`), waits until the model is loaded, warmed and
timed, and answers ``ready NAME LATENCY SIZE CTL CONTROLS IN_HEADER IN_DATA IN_CAP
IN_CH OUT_HEADER OUT_DATA OUT_CAP OUT_CH`` (the shared memory's name, the latency in
samples, the block's layout: :meth:`rtsep.live.control.SharedBlock.layout`), or
``error MESSAGE``. The connection stays open while the instance lives; when it closes
(the host's ``cleanup()``, or the host died) the worker stops and the block goes.
``stats`` (one line) answers with a JSON line of every instance's figures.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from rtsep.errors import ConfigError, RtsepError


class Instance:
    """One plugin instance: its shared block and its worker thread.

    Parameters
    ----------
    model : str or callable
        The model spec (loaded by the worker) or a callable.
    rate, block : int
        The host's sample rate and block length.
    options : dict
        ``lookahead``, ``model_hop``, ``reserve_periods``, ``threads``.
    start_timeout_s : float
    """

    def __init__(self, model, rate: int, block: int, options: dict, start_timeout_s: float):
        from rtsep.live.control import MAX_PERIOD, SharedBlock, Word
        from rtsep.live.plan import WorkerParams
        from rtsep.live.rate import supported
        from rtsep.live.worker import Worker

        why = supported(rate)
        if why:
            raise ConfigError(f"the host runs at {rate} Hz, which rtsep cannot follow ({why}); "
                              "set the host's (session's) sample rate to 44100 or 48000 Hz")
        if not 1 <= block <= MAX_PERIOD:
            raise ConfigError(f"the host's block length {block} is outside 1-{MAX_PERIOD}")
        self.rate, self.block = int(rate), int(block)
        self.sh = SharedBlock.create(shared_memory=True)
        self.sh.ctl[Word.RATE] = self.rate
        self.sh.ctl[Word.PERIOD] = self.block
        params = WorkerParams(period=self.block, lookahead=options.get("lookahead", 0),
                              model_hop=options.get("model_hop", "auto"),
                              reserve_periods=options.get("reserve_periods"),
                              threads=options.get("threads"), rate=self.rate)
        self.worker = Worker("thread")
        try:
            self.worker.start(model, params, self.sh)
            self.plan = self.worker.wait_ready(start_timeout_s)
        except BaseException:
            self.close()
            raise
        self.started = time.monotonic()

    def ready_line(self) -> str:
        """The answer to the plugin's ``hello``."""
        lay = self.sh.layout()
        fields = [f"/{self.sh.shm.name}", self.plan.latency_samples, lay["size"], lay["ctl"],
                  lay["controls"], lay["in_header"], lay["in_data"], lay["in_capacity"],
                  lay["in_channels"], lay["out_header"], lay["out_data"], lay["out_capacity"],
                  lay["out_channels"]]
        return "ready " + " ".join(str(f) for f in fields) + "\n"

    def stats(self) -> dict:
        """The live client's figures (:class:`rtsep.live.stats.StatsReader`) plus the
        plugin's: ``run_us_mean``, ``run_us_max`` (time inside ``run()``)."""
        from rtsep.live.control import Word
        from rtsep.live.stats import StatsReader

        ctl = self.sh.ctl
        s = StatsReader("thread").read(self.sh, self.plan, self.plan.latency_samples)
        cycles = int(ctl[Word.CYCLES])
        s.update(block=self.block, shared_memory=self.sh.shm.name,
                 run_us_mean=1e-3 * int(ctl[Word.RUN_NS]) / max(cycles, 1),
                 run_us_max=1e-3 * int(ctl[Word.RUN_NS_MAX]),
                 uptime_s=time.monotonic() - self.started)
        return s

    def close(self) -> None:
        """Stop the worker, remove the block (the plugin keeps its own mapping)."""
        from rtsep.live.control import Word

        if self.sh is None:
            return
        self.sh.ctl[Word.STOP] = 1
        self.worker.join()
        self.worker = None
        self.sh.close(unlink=True)
        self.sh = None


class BridgeServer:
    """Serve plugin instances on a Unix socket until :meth:`stop`.

    Parameters
    ----------
    model : str or callable
        What each instance runs (a spec is loaded once per instance, on its worker).
    path : str, optional
        The socket (default :func:`rtsep.bridge.socket_path`).
    lookahead, model_hop, reserve_periods, threads
        As for ``rtsep live``.
    start_timeout_s : float
        How long loading and warming an instance's model may take.
    say : callable(str), optional
        Told when instances come and go.
    """

    def __init__(self, model, *, path: str | None = None, lookahead: int = 0,
                 model_hop: int | str = "auto", reserve_periods: int | None = None,
                 threads: int | None = None, start_timeout_s: float = 600.0, say=None):
        from rtsep.bridge import socket_path

        self.model = model
        self.path = path or socket_path()
        self.options = {"lookahead": lookahead, "model_hop": model_hop,
                        "reserve_periods": reserve_periods, "threads": threads}
        self.start_timeout_s = float(start_timeout_s)
        self.say = say or (lambda msg: None)
        self.instances: dict[int, Instance] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._next_id = 1
        self._threads: list[threading.Thread] = []

    def bind(self) -> "BridgeServer":
        """Listen on the socket (a stale socket file is replaced; a live one refused)."""
        if os.path.exists(self.path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(self.path)
            except OSError:
                os.unlink(self.path)  # left behind by a bridge that died
            else:
                probe.close()
                raise ConfigError(f"another rtsep bridge already listens at {self.path}")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        return self

    def serve(self) -> None:
        """Accept connections until :meth:`stop` (each in a thread of its own)."""
        if self._sock is None:
            self.bind()
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, end every instance (each connection's thread closes its own:
        waited for, so that no worker or shared block outlives the server), remove the
        socket file."""
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + timeout_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            instances, self.instances = list(self.instances.values()), {}
        for inst in instances:
            inst.close()

    def stats(self) -> dict:
        """``{instance id: figures}`` of the instances running now."""
        with self._lock:
            items = list(self.instances.items())
        return {str(i): inst.stats() for i, inst in items}

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            f = conn.makefile("rwb", buffering=0)
            line = f.readline().decode(errors="replace").split()
            if line[:1] == ["stats"]:
                f.write((json.dumps(self.stats()) + "\n").encode())
                return
            if len(line) != 3 or line[0] != "hello":
                f.write(b"error expected 'hello RATE BLOCK' or 'stats'\n")
                return
            try:
                rate, block = int(float(line[1])), int(line[2])
                inst = Instance(self.model, rate, block, self.options, self.start_timeout_s)
            except (RtsepError, ValueError) as exc:
                self.say(f"refused an instance: {exc}")
                f.write(f"error {exc}\n".replace("\n", " ").strip().encode() + b"\n")
                return
            with self._lock:
                key, self._next_id = self._next_id, self._next_id + 1
                self.instances[key] = inst
            lat = inst.plan.latency_samples
            self.say(f"instance {key}: {rate} Hz, block {block}, model hop "
                     f"{inst.plan.model_hop}, latency {lat} samples ({1e3 * lat / rate:.1f} ms)")
            try:
                f.write(inst.ready_line().encode())
                while not self._stop.is_set():  # until the plugin's cleanup (EOF)
                    conn.settimeout(0.5)
                    try:
                        if not conn.recv(64):
                            break
                    except socket.timeout:
                        continue
            except OSError:
                pass
            finally:
                with self._lock:
                    gone = self.instances.pop(key, None)
                if gone is not None:
                    gone.close()
                    self.say(f"instance {key} ended")


def query_stats(path: str | None = None, timeout_s: float = 5.0) -> dict:
    """Ask a running bridge for its instances' figures."""
    from rtsep.bridge import socket_path

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(path or socket_path()))
        s.sendall(b"stats\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def spawn(path: str, args=(), *, timeout_s: float = 120.0, log=None, env=None):
    """Start ``rtsep bridge --socket PATH ARGS...`` as a child process and wait until it
    listens (benchmarks, tests). Returns the ``subprocess.Popen``.

    Raises
    ------
    RtsepError
        It exited or did not listen within ``timeout_s`` (its exit status named).
    """
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "rtsep", "bridge", "--socket", str(path),
                             *map(str, args)], stdout=log or subprocess.DEVNULL,
                            stderr=log or subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RtsepError(f"rtsep bridge exited with status {proc.returncode} before listening")
        try:
            query_stats(path, timeout_s=1.0)
            return proc
        except (OSError, ValueError):
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RtsepError(f"rtsep bridge did not listen at {path} within {timeout_s:.0f} s")


__all__ = ["BridgeServer", "Instance", "query_stats", "spawn"]
