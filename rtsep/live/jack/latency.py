"""Reporting the client's latency to JACK: the latency API through
:mod:`rtsep.live.jack.libjack` (JACK-Client does not wrap it).

Latency ranges are in frames (samples at the server rate). The two modes, as in
JACK's latency documentation:

- capture latency of a port: how long ago the data in it entered the graph
  (from a physical input). For a processing client it is the capture latency of
  its inputs plus its own latency, set on its **outputs**;
- playback latency of a port: how long until the data in it leaves the graph
  (at a physical output). For a processing client it is the playback latency of
  its outputs plus its own latency, set on its **inputs**.

:class:`LatencyReporter` does exactly that in the latency callback, so
``jack_lsp -l`` and a DAW see the client's true latency.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rtsep.errors import JackError
from rtsep.live.jack.libjack import client_pointer, ffi, lib, port_pointer

CAPTURE = 0
"""``JackCaptureLatency``."""
PLAYBACK = 1
"""``JackPlaybackLatency``."""


def get_latency_range(port, mode: int) -> tuple[int, int]:
    """Latency range of any port (ours or another client's), in frames.

    Parameters
    ----------
    port : jack.Port
        E.g. ``client.get_port_by_name("rtsep:vocals_L")``.
    mode : int
        :data:`CAPTURE` or :data:`PLAYBACK`.

    Returns
    -------
    (min, max) : tuple of int
    """
    rng = ffi.new("jack_latency_range_t *")
    lib().jack_port_get_latency_range(port_pointer(port), mode, rng)
    return int(rng.min), int(rng.max)


def set_latency_range(port, mode: int, lo: int, hi: int) -> None:
    """Set a port's latency range (frames). Only meaningful inside a latency callback."""
    rng = ffi.new("jack_latency_range_t *")
    rng.min, rng.max = int(lo), int(hi)
    lib().jack_port_set_latency_range(port_pointer(port), mode, rng)


def recompute_total_latencies(client) -> None:
    """Ask the server to rerun every latency callback (after our latency changed)."""
    err = lib().jack_recompute_total_latencies(client_pointer(client))
    if err:
        raise JackError(f"jack_recompute_total_latencies failed (error {err})")


def _combine(ranges: Iterable[tuple[int, int]]) -> tuple[int, int]:
    ranges = list(ranges)
    if not ranges:
        return 0, 0
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


class LatencyReporter:
    """Reports a processing client's own latency to JACK through a latency callback.

    In capture mode every output port gets the combined (min of the minima, max of
    the maxima) capture latency of the *connected* input ports plus
    ``latency_samples``; in playback mode every input port gets the combined playback
    latency of the connected output ports plus ``latency_samples``. With nothing
    connected the range is just ``[latency_samples, latency_samples]``.

    Parameters
    ----------
    client : jack.Client
        Not yet activated (JACK accepts the callback only before ``activate()``).
    inports, outports : sequence of jack.Port
        The client's own audio ports.
    latency_samples : int
        The client's latency in frames at the server rate.

    Notes
    -----
    The callback runs on a JACK notification thread (not the process thread).
    Change :attr:`latency_samples` while active and the server is asked to
    recompute the graph's latencies.
    """

    def __init__(self, client, inports: Sequence, outports: Sequence, latency_samples: int):
        self._client = client
        self._inports = list(inports)
        self._outports = list(outports)
        self._latency = int(latency_samples)
        self.calls = 0
        self.errors: list[str] = []
        # keep the cffi callback object alive as long as the client may call it
        self._cb = ffi.callback("void(jack_latency_callback_mode_t, void *)", self._callback,
                                onerror=self._onerror)
        err = lib().jack_set_latency_callback(client_pointer(client), self._cb, ffi.NULL)
        if err:
            raise JackError(f"jack_set_latency_callback failed (error {err}); "
                            "it must be called before the client is activated")

    @property
    def latency_samples(self) -> int:
        return self._latency

    @latency_samples.setter
    def latency_samples(self, value: int) -> None:
        self._latency = int(value)
        recompute_total_latencies(self._client)

    def _onerror(self, exc_type, exc_value, tb):  # pragma: no cover - diagnostic only
        self.errors.append(f"{exc_type.__name__}: {exc_value}")

    def _callback(self, mode, arg) -> None:
        self.calls += 1
        lat = self._latency
        if mode == CAPTURE:
            lo, hi = _combine(get_latency_range(p, CAPTURE) for p in self._inports
                              if p.number_of_connections)
            for p in self._outports:
                set_latency_range(p, CAPTURE, lo + lat, hi + lat)
        else:
            lo, hi = _combine(get_latency_range(p, PLAYBACK) for p in self._outports
                              if p.number_of_connections)
            for p in self._inports:
                set_latency_range(p, PLAYBACK, lo + lat, hi + lat)
