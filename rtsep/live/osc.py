"""OSC control of a running :class:`rtsep.live.client.LiveSeparator` (UDP, python-osc).

Address space (``<output>``: vocals, drums, bass, other, instrumental, main, mix):

=============================  ==========  ===============================================
address                        arguments   effect
=============================  ==========  ===============================================
``/rtsep/<output>/gain``       f (dB)      gain, -120 (silence) .. +24, 10 ms ramp
``/rtsep/<output>/mute``       i (0/1)     mute the output's pair (and a stem on the mix)
``/rtsep/<output>/solo``       i (0/1)     solo a stem on the mix bus
``/rtsep/status``              none        reply ``/rtsep/status s`` (the stats as JSON)
``/rtsep/subscribe``           [i port]    meters to the sender (or its host at ``port``)
``/rtsep/unsubscribe``         [i port]    stop them
=============================  ==========  ===============================================

A subscriber receives ``/rtsep/<output>/level f f`` (peak and RMS in dBFS) for every
output every :data:`METER_S` (50 ms). Messages that do not fit (unknown address, wrong
argument count or type, a value that is not finite) are ignored and counted
(:attr:`OscControl.invalid`); the first of each kind is logged once. Nothing a client
sends can stop the server thread.
"""

from __future__ import annotations

import json
import logging
import threading

from rtsep.live.mixer import LIVE_OUTPUTS

METER_S = 0.050
"""Seconds between two meter messages to a subscriber."""
FIELDS = ("gain", "mute", "solo")

log = logging.getLogger(__name__)


def datagram(address: str, *args) -> bytes:
    """An OSC message as the bytes of one UDP datagram (argument types as python-osc infers
    them: int -> i, float -> f, str -> s)."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class OscControl:
    """An OSC server thread that drives ``sep``'s controls and sends meters.

    Parameters
    ----------
    sep : LiveSeparator
        Running (its :meth:`set_control`, :meth:`stats` and :meth:`levels` are used).
    port : int
        UDP port to listen on (0: any free port, see :attr:`port`).
    host : str
        Address to bind: ``127.0.0.1`` (this machine only) or ``0.0.0.0`` (a tablet
        on the network).

    Attributes
    ----------
    port : int
        The port it listens on.
    received, invalid : int
        Messages handled, and messages ignored as invalid.
    """

    def __init__(self, sep, port: int, host: str = "127.0.0.1"):
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import ThreadingOSCUDPServer

        self.sep = sep
        self.received = 0
        self.invalid = 0
        self._warned: set[str] = set()
        self._subscribers: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        d = Dispatcher()
        for out in LIVE_OUTPUTS:
            for field in FIELDS:
                d.map(f"/rtsep/{out}/{field}", self._on_control, out, field,
                      needs_reply_address=True)
        d.map("/rtsep/status", self._on_status, needs_reply_address=True)
        d.map("/rtsep/subscribe", self._on_subscribe, True, needs_reply_address=True)
        d.map("/rtsep/unsubscribe", self._on_subscribe, False, needs_reply_address=True)
        d.set_default_handler(self._on_unknown, needs_reply_address=True)
        try:
            self._server = ThreadingOSCUDPServer((host, int(port)), d)
        except OSError as exc:
            from rtsep.errors import ConfigError

            raise ConfigError(f"cannot listen for OSC on {host}:{port} ({exc.strerror or exc}); "
                              "choose another --osc-port") from None
        self.port = int(self._server.server_address[1])
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._server.serve_forever, name="rtsep-osc",
                                          daemon=True),
                         threading.Thread(target=self._meter_loop, name="rtsep-osc-meters",
                                          daemon=True)]
        for t in self._threads:
            t.start()

    # -- handlers (server threads) -------------------------------------------------------
    def _bad(self, kind: str, detail: str) -> None:
        with self._lock:
            self.invalid += 1
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("OSC: ignored %s (%s); further ones are only counted", kind, detail)

    def _on_control(self, client, address, fixed, *args) -> None:
        out, field = fixed
        if len(args) != 1 or isinstance(args[0], (str, bytes)) or args[0] is None:
            self._bad(f"{field} arguments", f"{address} {args!r}: expected one number")
            return
        try:
            self.sep.set_control(out, field, args[0])
        except (ValueError, TypeError, RuntimeError) as exc:
            self._bad(f"{field} value", f"{address} {args!r}: {exc}")
            return
        with self._lock:
            self.received += 1

    def _on_status(self, client, address, *args) -> None:
        s = dict(self.sep.stats(), osc_received=self.received, osc_invalid=self.invalid)
        self._send(client, "/rtsep/status", [json.dumps(s)])
        with self._lock:
            self.received += 1

    def _on_subscribe(self, client, address, fixed, *args) -> None:
        subscribe = fixed[0]
        host, port = client[0], client[1]
        if args:
            if len(args) != 1 or not isinstance(args[0], int) or not 0 < args[0] < 65536:
                self._bad("subscribe arguments", f"{address} {args!r}: expected a port")
                return
            port = args[0]
        with self._lock:
            (self._subscribers.add if subscribe else self._subscribers.discard)((host, port))
            self.received += 1

    def _on_unknown(self, client, address, *args) -> None:
        self._bad("unknown address", address)

    # -- meters ----------------------------------------------------------------------------
    def _meter_loop(self) -> None:
        while not self._stop.wait(METER_S):
            with self._lock:
                subs = list(self._subscribers)
            if not subs:
                continue
            try:
                levels = self.sep.levels()
            except Exception:  # noqa: BLE001 - stopping
                continue
            for dest in subs:
                for out, (peak, rms) in levels.items():
                    self._send(dest, f"/rtsep/{out}/level", [float(peak), float(rms)])

    def _send(self, dest, address: str, args) -> None:
        try:
            self._server.socket.sendto(datagram(address, *args), (dest[0], int(dest[1])))
        except OSError:
            pass  # a subscriber gone away: UDP does not care, neither do we

    def close(self) -> None:
        """Stop listening and sending (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(2)


__all__ = ["METER_S", "OscControl", "datagram"]
