"""Hosts for the ``rtsep.lv2`` plugin, for benchmarks and tests.

- :class:`PluginInstance`: the plugin loaded in this process (ctypes): instantiate,
  ``run()`` with any block length, read its output controls. It passes no LV2
  features, so the plugin plans for blocks of up to 1024 frames.
- :class:`Jalv`: ``jalv``, Debian's LV2 host that is a JACK client, as a child process,
  whose console tells the plugin's output controls (``latency``, ``underruns``).
"""

from __future__ import annotations

import ctypes
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from rtsep.errors import ConfigError, RtsepError

N_AUDIO_OUT = 10
"""vocals L/R, drums, bass, other, instrumental."""
PORT_IN = (0, 1)
PORT_OUT0 = 2
PORT_LATENCY = PORT_OUT0 + N_AUDIO_OUT
PORT_UNDERRUNS = PORT_LATENCY + 1
PORT_GAIN0 = PORT_UNDERRUNS + 1
GAIN_SYMBOLS = ("vocals", "drums", "bass", "other", "instrumental")
PORT_FREEWHEEL = PORT_GAIN0 + len(GAIN_SYMBOLS)
N_PORTS = PORT_FREEWHEEL + 1

_Handle = ctypes.c_void_p
_Instantiate = ctypes.CFUNCTYPE(_Handle, ctypes.c_void_p, ctypes.c_double, ctypes.c_char_p,
                                ctypes.c_void_p)
_Connect = ctypes.CFUNCTYPE(None, _Handle, ctypes.c_uint32, ctypes.c_void_p)
_Run = ctypes.CFUNCTYPE(None, _Handle, ctypes.c_uint32)
_Simple = ctypes.CFUNCTYPE(None, _Handle)


class _Descriptor(ctypes.Structure):
    """``LV2_Descriptor`` (lv2/core/lv2.h)."""

    _fields_ = [("URI", ctypes.c_char_p), ("instantiate", _Instantiate),
                ("connect_port", _Connect), ("activate", ctypes.c_void_p), ("run", _Run),
                ("deactivate", ctypes.c_void_p), ("cleanup", _Simple),
                ("extension_data", ctypes.c_void_p)]


class PluginInstance:
    """One instance of the plugin in this process.

    Parameters
    ----------
    bundle : path
        The ``rtsep.lv2`` folder (:func:`rtsep.bridge.plugin.build_bundle`).
    rate : float
        The host's sample rate.
    max_block : int
        Largest block :meth:`run` will be given.

    Attributes
    ----------
    inputs : np.ndarray [shape=(2, max_block), dtype=float32]
        Fill ``inputs[:, :n]`` before ``run(n)``.
    outputs : np.ndarray [shape=(10, max_block), dtype=float32]
        ``outputs[:, :n]`` after ``run(n)``: vocals L/R, drums, bass, other, instrumental.
    controls : np.ndarray [shape=(8,), dtype=float32]
        latency, underruns (outputs), five gains in dB, freewheel (inputs).

    Raises
    ------
    ConfigError
        The plugin did not instantiate (no bridge running, rate refused: the plugin
        says why on stderr).
    """

    def __init__(self, bundle, rate: float = 44100.0, max_block: int = 8192):
        bundle = Path(bundle)
        self._lib = ctypes.CDLL(str(bundle / "rtsep_lv2.so"))
        self._lib.lv2_descriptor.restype = ctypes.POINTER(_Descriptor)
        self._lib.lv2_descriptor.argtypes = [ctypes.c_uint32]
        self._d = self._lib.lv2_descriptor(0).contents
        null_features = (ctypes.c_void_p * 1)(None)
        self._h = self._d.instantiate(None, float(rate), str(bundle).encode() + b"/",
                                      ctypes.cast(null_features, ctypes.c_void_p))
        if not self._h:
            raise ConfigError("the rtsep.lv2 plugin did not instantiate (see its message above)")
        self.max_block = int(max_block)
        self.inputs = np.zeros((2, self.max_block), np.float32)
        self.outputs = np.zeros((N_AUDIO_OUT, self.max_block), np.float32)
        self.controls = np.zeros(N_PORTS - PORT_LATENCY, np.float32)
        for c in range(2):
            self._d.connect_port(self._h, PORT_IN[c], self.inputs[c].ctypes.data)
        for c in range(N_AUDIO_OUT):
            self._d.connect_port(self._h, PORT_OUT0 + c, self.outputs[c].ctypes.data)
        for k in range(len(self.controls)):
            self._d.connect_port(self._h, PORT_LATENCY + k, self.controls[k:].ctypes.data)
        self._run = self._d.run

    @property
    def latency(self) -> int:
        """The ``latency`` port's value (after the first :meth:`run`)."""
        return int(self.controls[0])

    @property
    def underruns(self) -> int:
        """The ``underruns`` port's value."""
        return int(self.controls[1])

    def set_gain(self, stem: str, db: float) -> None:
        self.controls[2 + GAIN_SYMBOLS.index(stem)] = db

    def set_freewheel(self, on: bool) -> None:
        self.controls[-1] = 1.0 if on else 0.0

    def run(self, n: int) -> None:
        """One ``run(n)`` call, ``n <= max_block``."""
        if not 0 <= n <= self.max_block:
            raise ValueError(f"block {n} outside 0-{self.max_block}")
        self._run(self._h, n)

    def close(self) -> None:
        if self._h:
            self._d.cleanup(self._h)
            self._h = None

    def __enter__(self) -> "PluginInstance":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def host_env(bundle, sock, server: str | None = None) -> dict:
    """The environment a host process needs: the bundle on ``LV2_PATH``, the bridge's
    socket, and the JACK server's name."""
    env = dict(os.environ, LV2_PATH=str(Path(bundle).parent), RTSEP_BRIDGE_SOCKET=str(sock))
    if server:
        env["JACK_DEFAULT_SERVER"] = server
    return env


class Jalv:
    """``jalv -n NAME [-c SYM=VAL ...] <plugin>`` on JACK server ``server``; returns once
    its 12 audio ports are registered and jalv reads a non-zero ``latency`` output (jalv
    shows an output control's value only after the plugin's ``run()`` wrote it and its
    own update came round: asked earlier, it says 0).

    Parameters
    ----------
    bundle, sock
        The plugin bundle and the bridge's socket.
    server : str
        JACK server name.
    name : str
        JACK client name.
    controls : str
        ``SYMBOL=VALUE`` control settings (e.g. ``vocals_gain=-6``).
    """

    def __init__(self, bundle, sock, server: str, name: str, *controls: str,
                 timeout_s: float = 600.0):
        from rtsep.bridge import URI
        from rtsep.live.jack.server import open_client

        args = ["stdbuf", "-oL", "jalv", "-n", name]  # its console's answers, line by line
        for c in controls:
            args += ["-c", c]
        self.name = name
        self.proc = subprocess.Popen(args + [URI], env=host_env(bundle, sock, server),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        watch = open_client(f"{name}-watch", server)
        try:
            deadline = time.monotonic() + timeout_s
            while len(watch.get_ports(f"{name}:")) < 2 + N_AUDIO_OUT:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RtsepError(f"jalv did not start the plugin: {self.output()}")
                time.sleep(0.1)
        finally:
            watch.close()
        while self.monitors()["latency"] <= 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RtsepError(f"jalv never showed the plugin's latency: {self.output()}")
            time.sleep(0.1)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line)

    def output(self, n_chars: int = 2000) -> str:
        """The end of what jalv printed."""
        return "".join(self.log)[-n_chars:]

    def port(self, symbol: str) -> str:
        """The JACK port of a plugin port (``in_l``, ``vocals_r``, ...)."""
        return f"{self.name}:{symbol}"

    def monitors(self, timeout_s: float = 10.0) -> dict[str, float]:
        """The plugin's output controls as the host reads them (jalv's ``monitors``)."""
        while not self.lines.empty():
            self.lines.get_nowait()
        self.proc.stdin.write("monitors\n")
        self.proc.stdin.flush()
        found: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        while "underruns" not in found and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            key, _, value = line.lstrip("> ").partition(" = ")
            if value:
                found[key.strip()] = float(value)
        if "latency" not in found or "underruns" not in found:
            raise RtsepError(f"jalv did not tell the plugin's controls: {self.output()}")
        return found

    def close(self) -> int:
        """Quit jalv; its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(20)


__all__ = ["GAIN_SYMBOLS", "Jalv", "PluginInstance", "host_env"]
