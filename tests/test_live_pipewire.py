"""The live client's core through PipeWire's JACK layer (``pw-jack``), at 48 kHz.

A private headless PipeWire daemon per test (:func:`conftest.pipewire_factory`); the
client side runs in ``tests/live_core.py`` under ``pw-jack`` (a process picks its
libjack when it starts). Checks: the click delay equals the reported latency on every
port that carries the click (routing: nowhere else), a rate switch while running, and
the default model for 60 s without an underrun.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = Path(__file__).resolve().parent / "live_core.py"


def _core(srv, *args, timeout: float = 180.0) -> list[dict]:
    """Run ``live_core.py`` under ``pw-jack``; a hang fails with the stacks of its threads
    (the script's watchdog fires 20 s before ``timeout``) and the daemon's log."""
    cmd = srv.command([sys.executable, str(CORE), "--watchdog", str(timeout - 20), *args])
    p = subprocess.run(cmd, env=srv.env(), capture_output=True, text=True, cwd=ROOT,
                       timeout=timeout)
    assert p.returncode == 0, f"{p.stderr[-8000:]}\nPipeWire's log: {srv.log_tail(2000)}"
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def _check_clicks(row: dict, peak_routed: float) -> None:
    """The click (routed to drums) is on drums, instrumental, mix and main at exactly the
    reported latency, and on no other port."""
    lat = row["latency"]
    assert row["jack_reported"] == [lat, lat]
    assert row["disturbed"] == 0, row["discontinuities"]  # no frame-time jump near a click
    delays, peaks = np.array(row["delays"]), np.array(row["peaks"])
    for j, port in enumerate(row["ports"]):
        out = port.rsplit("_", 1)[0]
        if out in ("drums", "instrumental", "mix", "main"):
            assert (delays[:, j] == lat).all(), (port, delays[:, j], lat)
            want = 1.0 if out == "main" or row["rate"] == 44100 else peak_routed
            assert (peaks[:, j] >= want - 1e-3).all(), (port, peaks[:, j])
        else:
            assert (peaks[:, j] < 1e-3).all(), (port, peaks[:, j])


@pytest.mark.jack
@pytest.mark.parametrize("quantum", [256, 1024])
def test_click_delay_equals_reported_latency_on_pipewire_at_48k(pipewire_factory, quantum):
    srv = pipewire_factory(rate=48000, quantum=quantum)
    (row,) = _core(srv, "click")
    assert row["rate"] == 48000 and row["stats"]["period"] == quantum
    _check_clicks(row, peak_routed=0.8)
    assert row["stats"]["underruns"] == 0


@pytest.mark.jack
def test_rate_switch_while_running_on_pipewire(pipewire_factory):
    """44.1 -> 48 kHz while the client runs: it follows without exiting, within a
    second, and the click test measures the new latency exactly."""
    srv = pipewire_factory(rate=44100, quantum=256)
    before, after = _core(srv, "switch", "--to", "48000")
    assert before["rate"] == 44100 and after["rate"] == 48000
    _check_clicks(before, peak_routed=1.0)
    _check_clicks(after, peak_routed=0.8)
    assert after["stats"]["rate_changes"] == 1
    assert after["applied_s"] + after["latency"] / 48000 < 1.0, after["applied_s"]
    assert after["latency"] != before["latency"]
    assert any("48000" in e for e in after["events"]), after["events"]


@pytest.mark.jack
@pytest.mark.slow
def test_default_model_runs_60s_on_pipewire_without_underruns(pipewire_factory):
    if not (ROOT.parent / "shared" / "data" / "mixes").is_dir():
        pytest.skip("test audio missing: ../shared/data/mixes")
    srv = pipewire_factory(rate=48000, quantum=256)
    (row,) = _core(srv, "soak", "--seconds", "60", timeout=400)
    base, end = row["base"], row["end"]
    assert row["player_underruns"] == 0
    hops = 60 * 44100 / 1024 / row["model_hop"]  # model calls in 60 s
    assert end["rate"] == 48000 and end["hops"] - base["hops"] > 0.8 * hops
    assert end["underruns"] - base["underruns"] == 0, end


def test_cli_without_pipewire_names_pipewire(tmp_path):
    """Under pw-jack with no PipeWire daemon: one line that points at PipeWire, exit 2."""
    from rtsep.live.jack.server import PipeWireServer

    if PipeWireServer.missing():
        pytest.skip("PipeWire not installed")
    srv = PipeWireServer()
    srv.runtime_dir = str(tmp_path)  # an empty runtime folder: no daemon there
    p = subprocess.run(srv.command([sys.executable, "-m", "rtsep", "live", "--test-model",
                                    "route:vocals"]), env=srv.env(), capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "PipeWire" in lines[0], p.stderr
