"""rtsep live survives its worker: a killed or hung worker process is replaced at the
same latency, ports and connections untouched; one that keeps dying is given up on.

Real ``jackd -d dummy`` servers (conftest), real worker processes, the click test of
``tests/test_live.py`` before and after.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from rtsep.live.client import MAX_RAPID_FAILURES, LiveSeparator
from rtsep.live.jack import latency as jl
from rtsep.live.jack.server import open_client
from rtsep.runtime.stand_ins import RouteModel
from test_live import _measure, _ports, _reported  # tests/test_live.py

pytestmark = pytest.mark.jack


def _wait_for_new_worker(sep: LiveSeparator, old_pid: int, timeout_s: float = 60.0) -> str:
    """Drive the client's supervision until a new worker runs (or it gave up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = sep.wait(0.1)
        if r != "timeout":
            return r
        if sep.worker_pid != old_pid and sep.stats()["hops"] > 0:
            return "restarted"
    pytest.fail("no new worker within the timeout")


@pytest.mark.parametrize("how", ["kill", "hang"])
def test_dead_or_hung_worker_is_replaced_at_the_same_latency(jack_server_factory, how):
    """kill -9 (the OOM killer, a crash) or SIGSTOP (a hang: no heartbeat) of the worker:
    the client plays silence meanwhile, starts a new worker, and the click comes out at
    the same reported latency on the same ports, a connection made before still there."""
    srv = jack_server_factory(256)
    name = f"rtsep-{how}"
    watcher = open_client("rtsep-test-watch", srv.name)
    try:
        with LiveSeparator(RouteModel("vocals"), client_name=name, servername=srv.name) as sep:
            lat = sep.latency_samples
            sinks = _ports(name, ("vocals_L",))
            assert (_measure(srv, sep, sinks, n_clicks=2).delays == lat).all()
            watcher.connect(f"{name}:drums_L", "system:playback_1")
            old = sep.worker_pid
            before = sep.stats()
            os.kill(old, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            t0 = time.monotonic()
            assert _wait_for_new_worker(sep, old) == "restarted"
            took = time.monotonic() - t0
            s = sep.stats()
            assert s["worker_restarts"] == 1, s
            assert s["underruns"] > before["underruns"]  # silence while it was away
            assert sep.latency_samples == lat
            assert _reported(srv, f"{name}:vocals_L", jl.CAPTURE) == (lat, lat)
            res = _measure(srv, sep, sinks, n_clicks=2)
            assert (res.delays == lat).all(), (res.delays, lat)
            assert f"{name}:drums_L" in [p.name for p in watcher.get_all_connections("system:playback_1")]
            assert sep.worker_failed() is None
            if how == "hang":
                assert took >= 2.0  # the heartbeat's patience, then the new worker
    finally:
        watcher.close()
    with pytest.raises(ProcessLookupError):  # the old one is gone, not left stopped
        os.kill(old, 0)


def test_worker_that_keeps_dying_is_given_up(jack_server_factory):
    """Workers killed as soon as they run: after MAX_RAPID_FAILURES in a row (with a
    growing pause between), wait() returns "worker" and says why."""
    srv = jack_server_factory(256)
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep-dying", servername=srv.name) as sep:
        results = []
        for _ in range(MAX_RAPID_FAILURES):
            old = sep.worker_pid
            os.kill(old, signal.SIGKILL)
            results.append(_wait_for_new_worker(sep, old))
        assert results == ["restarted"] * (MAX_RAPID_FAILURES - 1) + ["worker"], results
        assert "in a row failed" in sep.worker_failed()
        assert sep.stats()["worker_restarts"] == MAX_RAPID_FAILURES - 1


def _until(sep: LiveSeparator, what, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert sep.wait(0.1) in ("timeout",), sep.shutdown_reason
        assert time.monotonic() < deadline, "timed out"


@pytest.mark.parametrize("how", ["stop", "crash"])
def test_server_restart_rejoins_with_same_ports_connections_and_latency(jack_server_factory, how):
    """The server stops (SIGTERM: a session switch) or crashes (SIGKILL) and comes back
    under the same name: the client comes back as the same client and ports, its
    connections restored, the same latency reported and measured; without
    ``reconnect`` wait() says "shutdown" (tests/test_live.py)."""
    srv = jack_server_factory(256)
    name = f"rtsep-re-{how}"
    with LiveSeparator(RouteModel("vocals"), client_name=name, servername=srv.name,
                       reconnect=True) as sep:
        lat = sep.latency_samples
        watcher = open_client("rtsep-test-watch", srv.name)
        watcher.connect(f"{name}:drums_L", "system:playback_1")
        watcher.connect("system:capture_2", f"{name}:in_R")
        watcher.close()
        sep.wait(1.5)  # the client notes its connections once a second
        # what JACK reports with these connections (a system capture port adds its own)
        reported = _reported(srv, f"{name}:vocals_L", jl.CAPTURE)
        assert reported[0] >= lat
        srv.kill() if how == "crash" else srv.stop()
        _until(sep, lambda: sep.client is None)
        assert sep.wait(1.0) == "timeout"  # no server: it waits, it does not exit
        srv.start()
        _until(sep, lambda: sep.client is not None and sep.stats()["cycles"] > 0)
        events = list(sep.worker_events)
        assert any("reconnected" in e for e in events), events
        assert sep.client.name == name
        assert sep.latency_samples == lat
        # JACK recomputes latencies after the restored connections asynchronously
        deadline = time.monotonic() + 5
        while (_reported(srv, f"{name}:vocals_L", jl.CAPTURE) != reported
               and time.monotonic() < deadline):
            sep.wait(0.1)
        assert _reported(srv, f"{name}:vocals_L", jl.CAPTURE) == reported
        assert _reported(srv, f"{name}:in_L", jl.PLAYBACK)[0] >= lat
        watcher = open_client("rtsep-test-watch", srv.name)
        try:
            assert f"{name}:drums_L" in [p.name for p in watcher.get_all_connections("system:playback_1")]
            assert f"{name}:in_R" in [p.name for p in watcher.get_all_connections("system:capture_2")]
        finally:
            watcher.close()
        res = _measure(srv, sep, _ports(name, ("vocals_L",)), n_clicks=2)
        assert (res.delays == lat).all(), (res.delays, lat)
