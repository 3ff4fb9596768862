"""rtsep inside a DAW: an LV2 plugin (``rtsep.lv2``) bridged to the rtsep engine.

A neural model cannot run inside a plugin's real-time ``run()``, so the plugin is a
small native shim (``lv2/rtsep_lv2.c``, built from source by :mod:`rtsep.bridge.plugin`
with the system compiler and Debian's ``lv2-dev`` headers) that moves audio through
lock-free shared-memory rings to an engine process, ``rtsep bridge``
(:mod:`rtsep.bridge.server`), and back, and reports the exact latency to the host::

    DAW (host thread)                    rtsep bridge (one process)
    -----------------                    --------------------------
    run(): in --push--> input ring  --->  worker thread per plugin instance:
           out <-pop--- output ring <---  the live worker (rtsep.live.worker): engine,
           (silence + count when late)    model, mixer; resampled at other host rates

Each plugin instance gets its own shared block (:class:`rtsep.live.control.SharedBlock`,
the same rings and control words as ``rtsep live``) and its own worker (engine state,
model), loaded and warmed before the plugin's ``instantiate()`` returns. The latency
reported on the plugin's ``latency`` port is ``rtsep live``'s:
``D + P + R``, with ``P`` the host's block length (its nominal block, e.g. JACK's
period) and ``R`` the measured reserve; hosts compensate it (plugin delay compensation).

The socket both sides meet at: ``$RTSEP_BRIDGE_SOCKET``, else
``$XDG_RUNTIME_DIR/rtsep-bridge.sock``, else ``/tmp/rtsep-bridge-<uid>.sock``
(:func:`socket_path`).
"""

from __future__ import annotations

import os

URI = "urn:rtsep:lv2:bridge"
"""The plugin's URI."""


def socket_path() -> str:
    """Where ``rtsep bridge`` listens and the plugin connects (the same rule in C)."""
    env = os.environ.get("RTSEP_BRIDGE_SOCKET")
    if env:
        return env
    run = os.environ.get("XDG_RUNTIME_DIR")
    if run:
        return os.path.join(run, "rtsep-bridge.sock")
    return f"/tmp/rtsep-bridge-{os.getuid()}.sock"


__all__ = ["URI", "socket_path"]
