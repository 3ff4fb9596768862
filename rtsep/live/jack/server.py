"""Start and stop a private ``jackd`` with the dummy backend (tests, benchmarks, demo).

The dummy backend has no sound card: it runs the graph at (about) real time from a
timer, with ``system:capture_*`` and ``system:playback_*`` ports that carry
silence. A *named* server (``jackd -n NAME``) never touches a user's default
server; clients reach it with ``jack.Client(..., servername=NAME)`` or the
environment variable ``JACK_DEFAULT_SERVER=NAME``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

from rtsep.constants import SAMPLE_RATE
from rtsep.errors import JackError


def jackd_path() -> str | None:
    """Path of ``jackd`` or None when it is not installed."""
    return shutil.which("jackd")


def open_client(name: str, servername: str | None = None):
    """Open a ``jack.Client`` without starting a server and without libjack's chatter.

    libjack prints several lines to stderr when no server answers; they are
    swallowed here and a :class:`~rtsep.errors.JackError` with one clear message is
    raised instead.

    Returns
    -------
    jack.Client
    """
    import jack

    messages: list[str] = []
    jack.set_error_function(messages.append)
    jack.set_info_function(messages.append)
    try:
        return jack.Client(name, no_start_server=True, servername=servername)
    except jack.JackError:
        which = servername or os.environ.get("JACK_DEFAULT_SERVER") or "default"
        if server_kind() == "pipewire":
            raise JackError(
                f"cannot connect to the JACK server {which!r} through PipeWire's JACK layer: "
                "is PipeWire running for this user (XDG_RUNTIME_DIR)? Start it with "
                "'pipewire &' (or your desktop's session)") from None
        raise JackError(
            f"cannot connect to the JACK server {which!r}: is it running? Start one, e.g. "
            f"'jackd -d alsa -r {SAMPLE_RATE} -p 256', or without a sound card "
            f"'jackd -d dummy -r {SAMPLE_RATE} -p 256'; on a PipeWire desktop run rtsep "
            "under 'pw-jack'") from None
    finally:
        jack.set_error_function(None)
        jack.set_info_function(None)


def server_kind() -> str:
    """``"pipewire"`` when the libjack this process uses is PipeWire's JACK layer
    (``pw-jack``, or PipeWire's libjack installed as the system's), else ``"jackd"``.
    Looked up among the libraries mapped into this process (load libjack first)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if "libjack.so" in line:
                    return "pipewire" if "pipewire" in line else "jackd"
    except OSError:
        pass
    return "pipewire" if "pipewire" in os.environ.get("LD_LIBRARY_PATH", "") else "jackd"


def remedy(*, rate: int | None = None, period: int | None = None) -> str:
    """How to set the server's sample rate or period, for the server in use.

    Parameters
    ----------
    rate, period : int, optional
        The value to suggest.

    Returns
    -------
    str
        A sentence for an error message: jackd's options, or PipeWire's settings.
    """
    if server_kind() == "pipewire":
        if rate is not None:
            return (f"PipeWire: force a rate with 'pw-metadata -n settings 0 clock.force-rate "
                    f"{rate}' (0 to release it), or allow it in default.clock.allowed-rates")
        return (f"PipeWire: ask for a smaller quantum with PIPEWIRE_QUANTUM={period}/48000 in "
                f"rtsep's environment, or 'pw-metadata -n settings 0 clock.force-quantum {period}'")
    if rate is not None:
        return f"jackd: restart the server with another rate, e.g. -r {rate}"
    return f"jackd: restart the server with a smaller period, e.g. -p {period}"


def server_running(servername: str | None = None) -> bool:
    """Whether a JACK server answers (named, or the default one)."""
    try:
        c = open_client("rtsep-probe", servername)
    except JackError:
        return False
    c.close()
    return True


class _LoggedServer:
    """A server process that writes its log to ``self.log_path``."""

    log_path: str | None = None

    def log_tail(self, n_chars: int = 600) -> str:
        """The end of the server's log, on one line."""
        return _tail(self.log_path, n_chars)


class DummyServer(_LoggedServer):
    """A ``jackd -d dummy`` child process, as a context manager.

    Parameters
    ----------
    name : str
        Server name (``jackd -n``).
    period : int
        Frames per period (``-p``), a power of two.
    rate : int
        Sample rate in Hz (``-r``).
    realtime : bool
        ``-R`` (needs rtprio rights) instead of ``--no-realtime``.
    sync : bool
        ``-S``: synchronous mode (the server waits for every client each cycle;
        no frame-time races when a client runs late).
    timeout_ms : int or None
        Client timeout (``-t``); None keeps jackd's default.
    log_path : str or None
        Where jackd's stdout/stderr go (a temporary file when None).

    Attributes
    ----------
    proc : subprocess.Popen
    log_path : str
    """

    def __init__(self, name: str, *, period: int = 256, rate: int = SAMPLE_RATE,
                 realtime: bool = False, sync: bool = False, timeout_ms: int | None = None,
                 log_path: str | None = None):
        self.name = name
        self.period = int(period)
        self.rate = int(rate)
        self.realtime = realtime
        self.sync = sync
        self.timeout_ms = timeout_ms
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        exe = jackd_path()
        if exe is None:
            raise JackError("jackd is not installed; install JACK 2 "
                            "(Debian/Ubuntu: apt-get install jackd2)")
        cmd = [exe, "-n", self.name, "-R" if self.realtime else "--no-realtime"]
        if self.sync:
            cmd.append("-S")
        if self.timeout_ms is not None:
            cmd += ["-t", str(int(self.timeout_ms))]
        cmd += ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        return cmd

    def start(self, wait_s: float = 10.0) -> "DummyServer":
        """Start jackd and wait until a client can connect (raises JackError)."""
        cmd = self.command()
        if self.log_path is None:
            fd, self.log_path = tempfile.mkstemp(prefix=f"jackd-{self.name}-", suffix=".log")
            os.close(fd)
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        env.pop("JACK_DEFAULT_SERVER", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise JackError(f"jackd exited with code {self.proc.returncode} at start "
                                f"({' '.join(cmd)}); its log: {self.log_tail()}")
            if server_running(self.name):
                return self
            time.sleep(0.05)
        self.stop()
        raise JackError(f"jackd did not answer within {wait_s:.0f} s ({' '.join(cmd)}); "
                        f"its log: {self.log_tail()}")

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would; remove its shared memory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.remove_leftovers()

    def remove_leftovers(self) -> None:
        """Remove the /dev/shm files a killed server of this name leaves behind."""

        for pattern in (f"jack_{self.name}_*", f"jack_sem.*_{self.name}_*"):
            for path in glob.glob(os.path.join("/dev/shm", pattern)):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> "DummyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PipeWireServer(_LoggedServer):
    """A private, headless PipeWire daemon whose JACK layer clients reach through ``pw-jack``.

    PipeWire (``pipewire``, ``pipewire-bin`` and ``pipewire-jack`` on Debian) needs no
    session manager for JACK clients: its default configuration has a dummy driver
    that runs the graph at the forced rate and quantum. The daemon lives in a runtime
    folder of its own (``XDG_RUNTIME_DIR``), so it never meets a user's PipeWire.
    A process that is to be its JACK client must be started with :meth:`env` and
    under ``pw-jack`` (:meth:`command`): libjack is chosen when a process starts.

    Parameters
    ----------
    rate : int
        Graph rate forced with ``pw-metadata -n settings 0 clock.force-rate``.
    quantum : int
        Graph quantum (the JACK period) forced with ``clock.force-quantum``.
    log_path : str, optional
        Where the daemon's output goes (a temporary file when None).
    """

    def __init__(self, *, rate: int = 48000, quantum: int = 256, log_path: str | None = None):
        self.rate, self.quantum = int(rate), int(quantum)
        self.log_path = log_path
        self.runtime_dir: str | None = None
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def missing() -> list[str]:
        """The programs it needs that are not installed."""
        return [p for p in ("pipewire", "pw-jack", "pw-metadata") if shutil.which(p) is None]

    def env(self, base: dict | None = None) -> dict:
        """Environment of a process that talks to this daemon."""
        env = dict(os.environ if base is None else base, XDG_RUNTIME_DIR=self.runtime_dir)
        for var in ("PIPEWIRE_REMOTE", "JACK_DEFAULT_SERVER", "PIPEWIRE_QUANTUM",
                    "PIPEWIRE_RATE"):
            env.pop(var, None)
        return env

    @staticmethod
    def command(argv: list[str]) -> list[str]:
        """``argv`` run as a JACK client of PipeWire (``pw-jack argv``)."""
        return [shutil.which("pw-jack") or "pw-jack", *argv]

    def start(self, wait_s: float = 10.0) -> "PipeWireServer":
        """Start the daemon, force its rate and quantum, wait until it answers."""
        missing = self.missing()
        if missing:
            raise JackError(f"PipeWire is not installed ({', '.join(missing)} missing; "
                            "Debian/Ubuntu: apt-get install pipewire pipewire-bin pipewire-jack)")
        self.runtime_dir = tempfile.mkdtemp(prefix="rtsep-pipewire-")
        if self.log_path is None:
            fd, self.log_path = tempfile.mkstemp(prefix="pipewire-", suffix=".log")
            os.close(fd)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["pipewire"], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env(),
                                         start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise JackError(f"pipewire exited with code {self.proc.returncode} at start; "
                                f"its log: {self.log_tail()}")
            if os.path.exists(os.path.join(self.runtime_dir, "pipewire-0")):
                try:
                    self.set_rate(self.rate)
                    self.set_quantum(self.quantum)
                    return self
                except JackError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise JackError(f"pipewire did not answer within {wait_s:.0f} s; its log: "
                        f"{self.log_tail()}")

    def set_rate(self, rate: int) -> None:
        """Force the graph's rate now (JACK clients see a sample-rate change)."""
        pipewire_setting("clock.force-rate", rate, self.env())
        self.rate = int(rate)

    def set_quantum(self, quantum: int) -> None:
        """Force the graph's quantum now (JACK clients see a buffer-size change)."""
        pipewire_setting("clock.force-quantum", quantum, self.env())
        self.quantum = int(quantum)

    def stop(self) -> None:
        """Stop the daemon and remove its runtime folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(2)
        if self.runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def __enter__(self) -> "PipeWireServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def pipewire_setting(key: str, value: int, env: dict | None = None) -> None:
    """``pw-metadata -n settings 0 KEY VALUE`` on the PipeWire daemon ``env`` reaches
    (default: this process's environment)."""
    res = subprocess.run(["pw-metadata", "-n", "settings", "0", key, str(int(value))],
                         env=env, capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise JackError(f"pw-metadata could not set {key}: {res.stderr.strip()}")


def _tail(path: str | None, n_chars: int = 600) -> str:
    """The end of a log file on one line."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-n_chars:].strip().replace("\n", " | ")
    except (OSError, TypeError):
        return "(no log)"


def clear_dead_servers() -> bool:
    """Forget dead servers in JACK 2's registry, when no jackd runs at all.

    The registry (``/dev/shm/jack-shm-registry``) has 8 slots and a killed server keeps
    its slot, so after enough crashes no new server can start ("Too many servers
    already active"). With no jackd process on the machine every slot is dead, and the
    registry can go: the next jackd makes a new one. Call this only before this process
    has opened any JACK client (libjack keeps the registry it mapped). Returns True when
    something was removed.
    """
    if _jackd_running():
        return False
    removed = False
    for path in ["/dev/shm/jack-shm-registry", *glob.glob(f"/dev/shm/jack-{os.getuid()}-*")]:
        try:
            os.unlink(path)
            removed = True
        except OSError:
            pass
    return removed


def _jackd_running() -> bool:
    """True when any jackd process runs on this machine (any user, any name)."""
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm) as f:
                if f.read().strip() in ("jackd", "jackdbus"):
                    return True
        except OSError:
            continue
    return False
