"""The live JACK client against a real ``jackd -d dummy`` (private server per test).

Delays are measured by separate player and recorder clients aligned by JACK frame
time (:mod:`rtsep.live.probe`) and must equal the reported latency to the sample.
Test models are plain callables (:class:`rtsep.runtime.stand_ins.RouteModel`: the input
on one stem), so no TensorFlow is needed except in the 60 s default-model run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rtsep.constants import OUTPUTS, SAMPLE_RATE
from rtsep.errors import ConfigError, JackError
from rtsep.live.client import PORT_NAMES_OUT, LiveSeparator
from rtsep.live.jack import latency as jl
from rtsep.live.jack.server import open_client
from rtsep.live.probe import measure_click_delay, play_record
from rtsep.runtime.stand_ins import RouteModel

ROOT = Path(__file__).resolve().parents[1]
MIX = ROOT.parent / "shared" / "data" / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
PEAK_TOL = 1e-3
"""A routed unit click comes out as 1 +- this (identity masks: STFT/ISTFT round trip)."""
LEAK_TOL = 1e-3
"""Largest absolute sample allowed on a port the click is not routed to."""


def _ports(client: str, names=PORT_NAMES_OUT) -> list[str]:
    return [f"{client}:{n}" for n in names]


def _measure(srv, sep: LiveSeparator, sinks, n_clicks: int = 3):
    """Click delays through ``sep``; retried when the probe's frame times jumped or
    the separator underran during the measurement (a loaded machine), never when
    the result is merely wrong."""
    name = sep.client.name
    for _ in range(3):
        before = sep.stats()["underruns"]
        res = measure_click_delay(_ports(name, ("in_L", "in_R")), sinks,
                                  expected_max=sep.latency_samples + 4096,
                                  servername=srv.name, n_clicks=n_clicks)
        if res.discontinuities == 0 and sep.stats()["underruns"] == before:
            return res
    pytest.fail(f"no clean measurement in 3 tries (last: {res.discontinuities} frame-time "
                f"discontinuities, underruns {sep.stats()['underruns'] - before})")


def _reported(srv, port: str, mode: int) -> tuple[int, int]:
    c = open_client("rtsep-test-observer", srv.name)
    try:
        return jl.get_latency_range(c.get_port_by_name(port), mode)
    finally:
        c.close()


# ---------------------------------------------------------------------------------------
# latency: measured == reported, to the sample
# ---------------------------------------------------------------------------------------
@pytest.mark.jack
@pytest.mark.parametrize("period,worker", [(64, "process"), (256, "process"),
                                           (1024, "process"), (256, "thread")])
def test_click_delay_equals_reported_latency(jack_server_factory, period, worker):
    srv = jack_server_factory(period)
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep", servername=srv.name,
                       worker=worker) as sep:
        lat = sep.latency_samples
        plan = sep.plan
        assert plan.reserve_periods >= 1
        assert lat == 4095 + period + plan.reserve_periods * period
        res = _measure(srv, sep, _ports("rtsep", ("vocals_L", "vocals_R")))
        assert (res.delays == lat).all(), (res.delays, lat)
        assert np.allclose(res.peaks, 1.0, atol=PEAK_TOL), res.peaks
        # what JACK reports on our ports (player/recorder add no latency of their own)
        assert _reported(srv, "rtsep:vocals_L", jl.CAPTURE) == (lat, lat)
        assert _reported(srv, "rtsep:instrumental_R", jl.CAPTURE) == (lat, lat)
        assert _reported(srv, "rtsep:in_L", jl.PLAYBACK) == (lat, lat)
        if period == 256 and worker == "process":
            env = dict(os.environ, JACK_DEFAULT_SERVER=srv.name)
            lsp = subprocess.run(["jack_lsp", "-l", "rtsep:vocals_L"], env=env,
                                 capture_output=True, text=True, timeout=10).stdout
            assert re.search(rf"capture latency = \[ {lat} {lat} \]", lsp), lsp


@pytest.mark.jack
def test_routing_reaches_only_its_stem_and_instrumental(jack_server_factory):
    """A model that puts the input on drums: the click appears on drums and on the
    instrumental pair (here at -6.02 dB through --gain), on the mix bus (the stems'
    sum) and on main (the input itself), and nowhere else."""
    srv = jack_server_factory(256)
    gains = {"instrumental": 20 * np.log10(0.5)}
    with LiveSeparator(RouteModel("drums"), client_name="rtsep-route", servername=srv.name,
                       gains=gains) as sep:
        res = _measure(srv, sep, _ports("rtsep-route"), n_clicks=2)
        lat = sep.latency_samples
    peaks = dict(zip(PORT_NAMES_OUT, res.peaks.max(axis=0)))
    for name in PORT_NAMES_OUT:
        stem = name.rsplit("_", 1)[0]
        want = {"drums": 1.0, "instrumental": 0.5, "mix": 1.0, "main": 1.0}.get(stem, 0.0)
        tol = PEAK_TOL if want else LEAK_TOL
        assert abs(peaks[name] - want) <= tol, (name, peaks[name])
    for j, name in enumerate(PORT_NAMES_OUT):
        if name.startswith(("drums", "instrumental", "mix", "main")):
            assert (res.delays[:, j] == lat).all(), (name, res.delays[:, j])


@pytest.mark.jack
def test_underrun_relocks_at_same_latency_without_misplaced_audio(jack_server_factory):
    """The model stalls 0.4 s once (far beyond the reserve): the client underruns,
    drops input, and re-locks. Every recorded sample is the input delayed by the
    reported latency, or silence; after the stall the output is the input again."""
    srv = jack_server_factory(256)
    model = RouteModel("vocals", stall_s=0.4)
    with LiveSeparator(model, client_name="rtsep-stall", servername=srv.name) as sep:
        lat = sep.latency_samples
        n = 3 * SAMPLE_RATE
        t = np.arange(n) / SAMPLE_RATE
        sig = (0.5 * np.sin(2 * np.pi * 441.0 * t)).astype(np.float32)[:, None]
        info: dict = {}
        rec = play_record(sig, [_ports("rtsep-stall", ("in_L", "in_R"))],
                          ["rtsep-stall:vocals_L"], record_frames=n + lat,
                          servername=srv.name, stats=info)[:, 0]
        s = sep.stats()
        assert sep.latency_samples == lat
    assert info["discontinuities"] == 0
    assert s["underruns"] > 0 and s["skipped_frames"] > 0, s
    ref = np.zeros(n + lat, np.float32)
    ref[lat:] = sig[:, 0]
    err = np.abs(rec - ref)
    silent = np.abs(rec) < 1e-5
    assert ((err < 1e-4) | silent).all(), float(err[~silent].max())
    # the last second: re-locked, the input again at the same latency (at least 90 % of
    # it: on a loaded machine a later, unrelated underrun may silence a few periods)
    tail = slice(n + lat - SAMPLE_RATE, n + lat)
    assert np.mean(np.abs(rec[tail] - ref[tail]) < 1e-4) >= 0.9


@pytest.mark.jack
def test_block_size_change(jack_server_factory):
    """Period 256 -> 512: the ring needs one more 256 frames, the latency grows by
    that and is reported anew; 512 -> 128: the latency stays."""
    srv = jack_server_factory(256)
    ctl = open_client("rtsep-test-ctl", srv.name)
    try:
        with LiveSeparator(RouteModel("vocals"), client_name="rtsep-bs", servername=srv.name,
                           reserve_periods=1) as sep:
            assert sep.latency_samples == 4095 + 256 + 256
            for period, want in ((512, 4095 + 512 + 256), (128, 4095 + 512 + 256)):
                ctl.blocksize = period
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and (
                        sep.stats()["period"] != period or sep.latency_samples != want
                        or _reported(srv, "rtsep-bs:vocals_L", jl.CAPTURE) != (want, want)):
                    sep.wait(0.1)
                assert sep.latency_samples == want
                assert _reported(srv, "rtsep-bs:vocals_L", jl.CAPTURE) == (want, want)
                res = _measure(srv, sep, ["rtsep-bs:vocals_L"], n_clicks=2)
                assert (res.delays == want).all(), (period, res.delays, want)
    finally:
        ctl.close()


@pytest.mark.jack
def test_callback_runs_while_python_holds_the_gil(jack_server_factory):
    """The process callback is native code: while this process's main thread keeps
    the GIL for 0.6 s (switch interval 5 s), JACK's cycles go on. A Python callback
    would wait for the GIL the whole time (about one cycle instead of ~100)."""
    srv = jack_server_factory(256, sync=False)
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep-gil", servername=srv.name) as sep:
        sep.wait(0.3)
        old = sys.getswitchinterval()
        sys.setswitchinterval(5.0)
        try:
            c0 = sep.stats()["cycles"]
            t0 = time.perf_counter()
            spins = 0
            while time.perf_counter() - t0 < 0.6:  # pure Python: never lets the GIL go
                spins += 1
            c1 = sep.stats()["cycles"]
            dt = time.perf_counter() - t0
        finally:
            sys.setswitchinterval(old)
    expected = dt * SAMPLE_RATE / 256
    # at least half of the cycles the dummy driver should have run (a loaded machine
    # may slow the non-realtime test server down)
    assert c1 - c0 >= 0.5 * expected, (c1 - c0, expected)


@pytest.mark.jack
@pytest.mark.parametrize("rate,period", [(48000, 256), (48000, 1024), (96000, 256)])
def test_click_delay_equals_reported_latency_at_other_rates(jack_server_factory, rate, period):
    """At 48 and 96 kHz the worker resamples around the 44.1 kHz engine; the reported
    latency (resamplers included, made whole) is still where the click comes out."""
    srv = jack_server_factory(period, rate=rate)
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep", servername=srv.name) as sep:
        lat = sep.latency_samples
        plan = sep.plan
        assert plan.rate == rate and sep.stats()["rate"] == rate
        assert lat == plan.engine_latency_samples + (1 + plan.reserve_periods) * period
        assert plan.engine_latency_samples > 4095 * rate / SAMPLE_RATE
        res = _measure(srv, sep, _ports("rtsep", ("vocals_L", "main_R")))
        assert (res.delays == lat).all(), (res.delays, lat)
        assert (res.peaks[:, 1] == 1.0).all(), res.peaks  # main: the click, bit for bit
        assert (res.peaks[:, 0] > 0.4).all(), res.peaks  # vocals: band-limited to 20 kHz
        assert _reported(srv, "rtsep:vocals_L", jl.CAPTURE) == (lat, lat)
        assert _reported(srv, "rtsep:in_R", jl.PLAYBACK) == (lat, lat)


@pytest.mark.jack
def test_the_worker_runs_in_realtime_below_jack_only_on_a_realtime_server(jack_server_factory):
    """``worker_rtprio="auto"``: SCHED_FIFO 1, below the client's own realtime thread, when
    the server runs its clients in realtime; normal priority when it does not (a realtime
    worker would preempt the audio); a thread worker never changes its process."""
    from rtsep.live.client import worker_rtprio_for
    from rtsep.live.jack import libjack

    assert worker_rtprio_for("auto", 5, "process") == 1
    assert worker_rtprio_for("auto", -1, "process") == 0
    assert worker_rtprio_for("auto", 5, "thread") == 0
    assert worker_rtprio_for("auto", 82, "process", pipewire=True) == 0
    assert worker_rtprio_for(3, 5, "process") == 3
    with pytest.raises(ConfigError, match="not below the JACK client thread's 5"):
        worker_rtprio_for(5, 5, "process")
    with pytest.raises(ConfigError, match="worker_rtprio"):
        LiveSeparator(RouteModel("vocals"), worker_rtprio=-1)
    for realtime in (False, True):
        srv = jack_server_factory(256, realtime=realtime)
        with LiveSeparator(RouteModel("vocals"), client_name="rtsep-prio",
                           servername=srv.name) as sep:
            client_prio = libjack.realtime_priority(sep.client)
            policy = os.sched_getscheduler(sep.worker_pid)
            prio = os.sched_getparam(sep.worker_pid).sched_priority
            notes = sep.plan.notes
        if not realtime:
            assert client_prio == -1
            assert policy == os.SCHED_OTHER
            assert not any("worker process" in n for n in notes), notes
            continue
        if client_prio <= 0:  # jackd -R without the rights runs its clients normally
            pytest.skip("this user may not run realtime threads (rtprio limit)")
        assert (policy, prio) == (os.SCHED_FIFO, 1), (policy, prio)
        assert "worker process: realtime priority 1 (SCHED_FIFO)" in notes


@pytest.mark.jack
def test_a_rate_without_an_exact_latency_is_refused(jack_server_factory):
    srv = jack_server_factory(256, rate=47999)
    with pytest.raises(JackError, match=r"47999 Hz.*standard rate.*jackd: .*-r 48000"):
        LiveSeparator(RouteModel("vocals"), client_name="rtsep-sr", servername=srv.name).start()


# ---------------------------------------------------------------------------------------
# the command line: no server, server killed, SIGTERM
# ---------------------------------------------------------------------------------------
def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "rtsep", "live", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            **kw)


def test_cli_without_server_prints_one_line_and_exits_2():
    p = _cli("--server", f"rtsep-nonexistent-{os.getpid()}", "--test-model", "route:vocals")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "JACK server" in lines[0] and "jackd" in lines[0]


def _start_cli(srv, tmp_path, name, *extra):
    stats = tmp_path / f"{name}.json"
    p = _cli("--server", srv.name, "--name", name, "--test-model", "route:vocals",
             "--json-stats", str(stats), *extra)
    deadline = time.monotonic() + 60
    while not stats.exists():
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            pytest.fail(f"rtsep live did not start: {p.communicate()[1]}")
        time.sleep(0.1)
    return p, stats


@pytest.mark.jack
def test_cli_json_stats_and_sigterm(jack_server_factory, tmp_path):
    srv = jack_server_factory(256)
    p, stats = _start_cli(srv, tmp_path, "rtsep-cli")
    time.sleep(1.5)
    s = json.loads(stats.read_text())
    for key in ("latency_samples", "xruns", "underruns", "hops", "worker_ms_p50",
                "worker_ms_p99", "model_hop"):
        assert key in s, key
    assert s["hops"] > 0 and s["model_hop"] == 1
    assert s["latency_samples"] == _reported(srv, "rtsep-cli:vocals_L", jl.CAPTURE)[0]
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert p.returncode == 0, err
    assert "stopped" in err.strip().splitlines()[-1]
    assert "Traceback" not in err and "Exception ignored" not in err, err  # worker too


@pytest.mark.jack
def test_cli_exits_cleanly_when_server_is_killed(jack_server_factory, tmp_path):
    srv = jack_server_factory(256)
    p, _ = _start_cli(srv, tmp_path, "rtsep-kill", "--no-reconnect")
    time.sleep(0.5)
    t0 = time.monotonic()
    srv.kill()
    out, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert p.returncode == 2
    last = err.strip().splitlines()[-1]
    assert "shut down" in last, err


@pytest.mark.jack
def test_cli_waits_for_a_restarted_server_by_default(jack_server_factory, tmp_path):
    """`rtsep live` (reconnect on by default) outlives its server: it says so, comes back
    when a server of the same name does, keeps counting cycles, and exits 0 on SIGTERM."""
    srv = jack_server_factory(256)
    p, stats = _start_cli(srv, tmp_path, "rtsep-back")
    time.sleep(1.5)
    srv.kill()
    time.sleep(1.5)
    assert p.poll() is None  # still there, waiting
    srv.start()
    deadline = time.monotonic() + 30
    while not _port_exists(srv, "rtsep-back:vocals_L"):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.3)
    s = json.loads(stats.read_text())
    assert _reported(srv, "rtsep-back:vocals_L", jl.CAPTURE)[0] == s["latency_samples"]
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert "waiting for it to come back" in err and "reconnected" in err, err


def _port_exists(srv, name: str) -> bool:
    c = open_client("rtsep-test-observer", srv.name)
    try:
        return name in [p.name for p in c.get_ports()]
    finally:
        c.close()


@pytest.mark.jack
def test_streaming_model_runs_at_hop_one_on_a_jax_worker(jack_server_factory, tmp_path):
    """A ``stream_*`` artifact: the worker process steps it through Keras on JAX at
    model hop 1, the latency is the floor plus the reserve, and it plays without
    underruns (a tiny model with random weights: timing, not separation)."""
    from rtsep.nn import build_model
    from rtsep.nn.config import ModelConfig
    from rtsep.runtime.artifact import save_artifact
    from rtsep.runtime.stream import jax_available

    cfg = ModelConfig.preset("stream_hybrid", "tiny")
    path = save_artifact(tmp_path / "tiny-stream", build_model(cfg), cfg)
    srv = jack_server_factory(256, sync=False)
    with LiveSeparator(str(path), client_name="rtsep-stream", servername=srv.name) as sep:
        plan = sep.plan
        assert plan.model_hop == 1, plan.notes
        assert ("JAX" in plan.device) == jax_available(), plan.device
        assert sep.latency_samples == 4095 + (1 + plan.reserve_periods) * 256
        assert _reported(srv, "rtsep-stream:vocals_L", jl.CAPTURE) == (sep.latency_samples,) * 2
        base = sep.stats()
        assert sep.wait(timeout=5.0) == "timeout"
        s = sep.stats()
    assert s["hops"] - base["hops"] > 150  # 5 s is 215 hops
    assert s["underruns"] - base["underruns"] == 0, s


# ---------------------------------------------------------------------------------------
# the default model, 60 s
# ---------------------------------------------------------------------------------------
@pytest.mark.jack
@pytest.mark.slow
def test_default_model_runs_60s_without_underruns(jack_server_factory):
    assert (ROOT / "models" / "default").is_dir(), "models/default must be committed"
    if not MIX.exists():
        pytest.skip(f"test audio missing: {MIX}")
    from rtsep.io.audio import read_audio
    from rtsep.live.probe import LoopPlayer

    x, _ = read_audio(MIX)
    srv = jack_server_factory(256, sync=False)
    with LiveSeparator("default", client_name="rtsep-60", servername=srv.name,
                       model_hop="auto") as sep:
        with LoopPlayer(x[:30 * SAMPLE_RATE], _ports("rtsep-60", ("in_L", "in_R")),
                        servername=srv.name) as player:
            base = sep.stats()
            assert sep.wait(timeout=60.0) == "timeout"
            s = sep.stats()
    assert player.underruns == 0  # the input never stopped
    assert s["hops"] > 0
    assert s["underruns"] - base["underruns"] == 0, s


@pytest.mark.jack
@pytest.mark.slow
@pytest.mark.parametrize("rate", [44100, 48000])
def test_demo_runs_live_and_measures_the_reported_latency(jack_server_factory, tmp_path, rate):
    """``rtsep demo`` on a running (private) server: renders a 3 s song, separates it
    live (the bundled default model), the latency that most of its three clicks show
    (at least two) equals the reported one, and every output is written (at 48 kHz:
    played and recorded at the server's rate, written back at 44.1 kHz)."""
    srv = jack_server_factory(256, rate=rate)
    out = tmp_path / "demo"
    p = subprocess.run([sys.executable, "-m", "rtsep", "demo", "--seconds", "3", "--server",
                        srv.name, "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=170)
    assert p.returncode == 0, p.stderr
    m = re.search(rf"latency: reported (\d+) samples at {rate} Hz .* measured (\d+) samples "
                  r"from the clicks \((all 3 clicks|2 of 3 clicks)", p.stdout)
    assert m and m.group(1) == m.group(2), p.stdout
    for name in OUTPUTS:
        assert (out / f"{name}.wav").stat().st_size > 3 * SAMPLE_RATE * 2 * 4
    assert "SDR" in p.stdout


def test_the_demo_measures_the_latency_most_undisturbed_clicks_show():
    """Three clicks through a known delay, one hidden (as by an underrun) and one after
    a frame-time jump: the delay is the undisturbed clicks' one, and says how many agree."""
    from rtsep.live.demo import _most_common_delay
    from rtsep.live.probe import locate_clicks

    spacing, lat = 9000, 811
    clicks = spacing * np.arange(3)
    rec = np.zeros(3 * spacing, np.float32)
    rec[clicks + lat] = 1.0
    rec[clicks[1] + lat] = 0.0  # hidden: the search finds the residue instead
    rec[clicks[1] + 2000] = 0.3
    rec[clicks[2] + lat + 512] = 1.0  # moved by a period, after a discontinuity
    rec[clicks[2] + lat] = 0.0
    delays, peaks, disturbed = locate_clicks(rec, clicks, spacing, spacing, [clicks[2] + 100])
    assert delays[:, 0].tolist() == [lat, 2000, lat + 512]
    assert peaks[:, 0].tolist() == pytest.approx([1.0, 0.3, 1.0])
    assert disturbed.tolist() == [False, False, True]
    # undisturbed: 811 and 2000 once each, the first click's wins; 811 shown once
    assert _most_common_delay(delays[:, 0], disturbed) == (lat, 1)
    assert _most_common_delay(np.array([lat, 2000, lat]), np.zeros(3, bool)) == (lat, 2)
    # every click disturbed: all of them count
    assert _most_common_delay(np.array([5, 7, 7]), np.ones(3, bool)) == (7, 2)
