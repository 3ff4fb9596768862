"""Life inside a session manager: the NSM protocol (Non/New Session Manager, RaySession).

When ``rtsep live`` starts with ``$NSM_URL`` set (the session manager launched it), it
announces itself (``/nsm/server/announce``), waits for ``/nsm/client/open``, takes the
client id it is given as its JACK client name, loads its saved state (the output
controls: gain, mute, solo) from ``<path>.rtsep.json`` when the file exists, and answers
``/reply``. Each ``/nsm/client/save`` writes the controls to that file (atomically) and
answers. The session manager stops the client with SIGTERM, which ``rtsep live``
already handles; connections are the session manager's business (jackpatch).

Messages go over UDP as OSC (python-osc), on a socket of this module's own, served by
a thread; a message that does not fit is ignored.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from urllib.parse import urlparse

from rtsep.errors import ConfigError

API_MAJOR, API_MINOR = 1, 2
CAPABILITIES = ":"
"""No optional capabilities (no ``switch``: the session manager restarts us instead)."""
ERR_GENERAL = -1
STATE_SUFFIX = ".rtsep.json"


class NsmSession:
    """The client side of the NSM protocol.

    Parameters
    ----------
    url : str
        ``$NSM_URL``, e.g. ``osc.udp://host:port/``.
    app_name : str
        The name the session manager shows.

    Attributes
    ----------
    path, display_name, client_id : str
        From ``/nsm/client/open`` (after :meth:`wait_open`).
    server_name : str
        The session manager's name (from its reply to the announce).
    """

    def __init__(self, url: str, app_name: str = "rtsep"):
        u = urlparse(url)
        if u.scheme != "osc.udp" or not u.hostname or not u.port:
            raise ConfigError(f"NSM_URL {url!r} is not an osc.udp://HOST:PORT/ address")
        self.server = (u.hostname, u.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("", 0))
        self.sock.settimeout(0.2)
        self.path = self.display_name = self.client_id = self.server_name = ""
        self._on_save = None
        self._thread = None
        self._stop = threading.Event()
        self.send("/nsm/server/announce", app_name, CAPABILITIES, "rtsep", API_MAJOR, API_MINOR,
                  os.getpid())

    def send(self, address: str, *args) -> None:
        from rtsep.live.osc import datagram

        self.sock.sendto(datagram(address, *args), self.server)

    def _receive(self):
        """The next message ``(address, params)``, or None after the socket's timeout."""
        from pythonosc.osc_message import OscMessage

        try:
            data, _ = self.sock.recvfrom(65536)
            msg = OscMessage(data)
        except (socket.timeout, OSError, ValueError, IndexError):
            return None
        return msg.address, list(msg.params)

    def wait_open(self, timeout_s: float = 30.0) -> str:
        """Wait for ``/nsm/client/open``; returns the client id (the JACK client name)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self._receive()
            if got is None:
                continue
            address, params = got
            if address == "/reply" and params[:1] == ["/nsm/server/announce"] and len(params) >= 3:
                self.server_name = str(params[2])
            elif address == "/error" and params[:1] == ["/nsm/server/announce"]:
                raise ConfigError(f"the session manager refused rtsep: {params[-1]}")
            elif address == "/nsm/client/open" and len(params) >= 3:
                self.path, self.display_name, self.client_id = map(str, params[:3])
                return self.client_id
        raise ConfigError(f"the session manager at {self.server[0]}:{self.server[1]} sent no "
                          f"/nsm/client/open within {timeout_s:.0f} s")

    @property
    def state_file(self) -> str:
        return self.path + STATE_SUFFIX

    def load_state(self) -> dict:
        """The state saved in this session (empty for a new one)."""
        try:
            with open(self.state_file) as f:
                state = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the session's state {self.state_file}: {exc}") from None
        return state if isinstance(state, dict) else {}

    def opened(self, ok: bool, message: str) -> None:
        """Answer ``/nsm/client/open``."""
        if ok:
            self.send("/reply", "/nsm/client/open", message)
        else:
            self.send("/error", "/nsm/client/open", ERR_GENERAL, message)

    def serve(self, on_save) -> None:
        """Answer ``/nsm/client/save`` from now on: ``on_save(state_file)`` writes it."""
        self._on_save = on_save
        self._thread = threading.Thread(target=self._serve, name="rtsep-nsm", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            got = self._receive()
            if got is None or got[0] != "/nsm/client/save":
                continue
            try:
                self._on_save(self.state_file)
            except Exception as exc:  # noqa: BLE001 - told to the session manager
                self.send("/error", "/nsm/client/save", ERR_GENERAL, f"rtsep could not save: {exc}")
            else:
                self.send("/reply", "/nsm/client/save", "saved")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
        self.sock.close()


__all__ = ["NsmSession", "STATE_SUFFIX"]
