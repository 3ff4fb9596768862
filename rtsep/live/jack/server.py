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
        raise JackError(
            f"cannot connect to the JACK server {which!r}: is it running? Start one, e.g. "
            f"'jackd -d alsa -r {SAMPLE_RATE} -p 256', or without a sound card "
            f"'jackd -d dummy -r {SAMPLE_RATE} -p 256'") from None
    finally:
        jack.set_error_function(None)
        jack.set_info_function(None)


def server_running(servername: str | None = None) -> bool:
    """Whether a JACK server answers (named, or the default one)."""
    try:
        c = open_client("rtsep-probe", servername)
    except JackError:
        return False
    c.close()
    return True


class DummyServer:
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

    def log_tail(self, n_chars: int = 600) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-n_chars:].strip().replace("\n", " | ")
        except (OSError, TypeError):
            return "(no log)"

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
