"""The LV2 bridge (``rtsep.lv2`` + ``rtsep bridge``) in real hosts from Debian.

The bundle is built from source into a temporary folder (the system compiler and
``lv2-dev``); ``rtsep bridge`` runs as a child process on a private socket; hosts:
``jalv`` (an LV2 host that is a JACK client) on a private dummy JACK server, where the
click test measures the delay through the plugin; ``lv2apply`` (offline, a file through
the plugin); and the plugin loaded in this process through ctypes
(:mod:`rtsep.bridge.host`) for blocks whose length changes from call to call.

Skipped when the LV2 tools are missing (``RTSEP_REQUIRE_LV2=1``, as in CI, makes that a
failure): Debian packages ``lv2-dev jalv lilv-utils gcc libc6-dev``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rtsep.bridge import URI
from rtsep.bridge.host import Jalv, host_env

ROOT = Path(__file__).resolve().parents[1]
MIX = ROOT.parent / "shared" / "data" / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
PEAK_TOL = 1e-3
"""A routed unit click comes out as 1 +- this (identity masks: STFT/ISTFT round trip)."""
STEM_PORTS = ("vocals", "drums", "bass", "other", "instrumental")


@pytest.fixture
def bundle(lv2_bundle) -> Path:
    return lv2_bundle


@pytest.fixture
def bridge_factory(tmp_path, bundle):
    """``start(*args) -> (proc, socket)``: ``rtsep bridge`` children, stopped at teardown."""
    from rtsep.bridge.server import spawn

    procs = []

    def start(*args, timeout_s: float = 300.0):
        sock = tmp_path / f"bridge-{len(procs)}.sock"
        log = open(tmp_path / f"bridge-{len(procs)}.log", "w")
        proc = spawn(sock, args, timeout_s=timeout_s, log=log)
        procs.append((proc, log))
        return proc, sock

    yield start
    for proc, log in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _click(srv, jalv: Jalv, sinks, expected_max: int):
    from rtsep.live.probe import measure_click_delay

    for _ in range(3):  # a frame-time jump in the probe (loaded machine): measure again
        res = measure_click_delay([jalv.port("in_l"), jalv.port("in_r")], sinks,
                                  expected_max=expected_max, servername=srv.name, n_clicks=3)
        if res.discontinuities == 0:
            return res
    pytest.fail("no clean measurement in 3 tries")


def _reported_by_host(srv, jalv: Jalv) -> set[int]:
    """What the host told JACK about the plugin's latency, on its input and output ports."""
    from rtsep.live.jack import latency as jl
    from rtsep.live.jack.server import open_client

    c = open_client("rtsep-test-observer", srv.name)
    try:
        vals = set()
        for sym in ("in_l", "vocals_l"):
            port = c.get_port_by_name(jalv.port(sym))
            for mode in (jl.CAPTURE, jl.PLAYBACK):
                vals.update(jl.get_latency_range(port, mode))
        return vals
    finally:
        c.close()


def _stats(sock: Path) -> dict:
    from rtsep.bridge.server import query_stats

    return query_stats(sock)


# ---------------------------------------------------------------------------------------
@pytest.mark.jack
def test_lv2info_reads_the_bundle(bundle):
    out = subprocess.run(["lv2info", URI], env=dict(os.environ, LV2_PATH=str(bundle.parent)),
                         capture_output=True, text=True, timeout=60).stdout
    assert "Has latency:       yes, reported by port 12" in out, out
    assert out.count("#AudioPort") == 12, out
    for sym in ("in_l", "in_r", "latency", "underruns", "freewheel",
                *(f"{s}_{c}" for s in STEM_PORTS for c in "lr"),
                *(f"{s}_gain" for s in STEM_PORTS)):
        assert f"Symbol:      {sym}\n" in out, sym
    assert "port-groups#left" in out and "freeWheeling" in out


@pytest.mark.jack
@pytest.mark.parametrize("period", [64, 256, 1024])
def test_click_delay_through_jalv_equals_the_latency_port(jack_server_factory, bridge_factory,
                                                          bundle, period):
    """jalv runs the plugin on a JACK server: the click comes out of vocals (the route
    model's stem) after exactly the latency the plugin's ``latency`` port says (read by
    the host), which is ``4095 + period + reserve`` and what jalv told JACK; nothing on
    the instrumental pair."""
    srv = jack_server_factory(period)
    _, sock = bridge_factory("--test-model", "route:vocals")
    jalv = Jalv(bundle, sock, srv.name, "rtsep-lv2")
    try:
        mon = jalv.monitors()
        lat = int(mon["latency"])
        (st,) = _stats(sock).values()
        assert st["latency_samples"] == lat and st["block"] == period
        assert lat == 4095 + period * (1 + st["reserve_periods"]), (lat, st["reserve_periods"])
        res = _click(srv, jalv, [jalv.port("vocals_l"), jalv.port("vocals_r"),
                                 jalv.port("instrumental_l")], lat + 4096)
        assert (res.delays[:, :2] == lat).all(), (res.delays, lat)
        assert np.allclose(res.peaks[:, :2], 1.0, atol=PEAK_TOL), res.peaks
        assert (res.peaks[:, 2] < PEAK_TOL).all(), res.peaks
        assert lat in _reported_by_host(srv, jalv)
        assert jalv.monitors()["underruns"] == 0
    finally:
        assert jalv.close() in (0, -signal.SIGTERM)


@pytest.mark.jack
def test_two_instances_each_with_its_own_rings_and_gains(jack_server_factory, bridge_factory,
                                                         bundle):
    """Two jalv instances on one bridge: each its own shared block; the click is exact
    through both; the second one's ``vocals_gain`` (-6.02 dB, as host automation would
    set it) halves its vocals; closing one leaves the other running."""
    srv = jack_server_factory(256)
    _, sock = bridge_factory("--test-model", "route:vocals")
    a = Jalv(bundle, sock, srv.name, "rtsep-a")
    b = Jalv(bundle, sock, srv.name, "rtsep-b", "vocals_gain=-6.0206")
    try:
        stats = _stats(sock)
        assert len(stats) == 2
        assert len({s["shared_memory"] for s in stats.values()}) == 2
        lat = int(a.monitors()["latency"])
        assert int(b.monitors()["latency"]) == lat
        from rtsep.live.probe import measure_click_delay

        res = measure_click_delay([a.port("in_l"), a.port("in_r"), b.port("in_l"),
                                   b.port("in_r")], [a.port("vocals_l"), b.port("vocals_l")],
                                  expected_max=lat + 4096, servername=srv.name, n_clicks=3)
        assert res.discontinuities == 0
        assert (res.delays == lat).all(), res.delays
        assert np.allclose(res.peaks[:, 0], 1.0, atol=PEAK_TOL), res.peaks
        assert np.allclose(res.peaks[:, 1], 0.5, atol=PEAK_TOL), res.peaks
        assert a.close() in (0, -signal.SIGTERM)
        deadline = time.monotonic() + 10
        while len(_stats(sock)) != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_stats(sock)) == 1
        res = _click(srv, b, [b.port("vocals_l")], lat + 4096)
        assert (res.delays == lat).all() and np.allclose(res.peaks, 0.5, atol=PEAK_TOL)
    finally:
        a.close()
        b.close()


@pytest.mark.jack
def test_engine_killed_the_host_keeps_running(jack_server_factory, bridge_factory, bundle):
    """SIGKILL the bridge under a running jalv: jalv keeps running (its JACK cycles go
    on, audio through it arrives on time), the plugin outputs silence and counts every
    cycle as an underrun, and jalv still quits cleanly."""
    from rtsep.live.probe import play_record

    srv = jack_server_factory(256)
    proc, sock = bridge_factory("--test-model", "route:vocals")
    jalv = Jalv(bundle, sock, srv.name, "rtsep-lv2")
    try:
        assert jalv.monitors()["underruns"] == 0
        proc.kill()
        proc.wait(10)
        time.sleep(0.5)
        u1 = jalv.monitors()["underruns"]
        sig = np.full((44100, 1), 0.5, np.float32)
        info: dict = {}
        rec = play_record(sig, [[jalv.port("in_l"), jalv.port("in_r")]],
                          [jalv.port(f"{s}_l") for s in STEM_PORTS], record_frames=44100,
                          servername=srv.name, stats=info, timeout_s=30)
        assert info["discontinuities"] == 0
        assert np.abs(rec).max() == 0.0  # the documented underrun signal: silence
        u2 = jalv.monitors()["underruns"]
        assert jalv.proc.poll() is None
        assert u1 > 0 and u2 - u1 >= 44100 // 256, (u1, u2)
    finally:
        assert jalv.close() in (0, -signal.SIGTERM)


@pytest.mark.jack
def test_blocks_of_changing_length(bridge_factory, bundle):
    """The plugin in this process (ctypes), freewheeling, given blocks of 1 to 1024 frames
    at random: the output is the input moved by exactly the reported latency (route
    model), nothing on the instrumental pair, no underrun."""
    from rtsep.bridge.host import PluginInstance

    _, sock = bridge_factory("--test-model", "route:vocals")
    os.environ["RTSEP_BRIDGE_SOCKET"] = str(sock)
    try:
        plug = PluginInstance(bundle, 44100, 1024)
    finally:
        del os.environ["RTSEP_BRIDGE_SOCKET"]
    with plug:
        plug.set_freewheel(True)
        rng = np.random.default_rng(3)
        n = 3 * 44100
        x = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
        out = np.zeros((10, n), np.float32)
        pos = 0
        while pos < n:
            k = int(min(rng.integers(1, 1025), n - pos))
            plug.inputs[:, :k] = x[:, pos:pos + k]
            plug.run(k)
            out[:, pos:pos + k] = plug.outputs[:, :k]
            pos += k
        lat = plug.latency
        assert lat == 4095 + 1024 * (1 + next(iter(_stats(sock).values()))["reserve_periods"])
        assert np.abs(out[0:2, lat:] - x[:, :n - lat]).max() < 1e-5
        assert np.abs(out[:, :lat]).max() < 1e-6 and np.abs(out[8:10]).max() < 1e-6
        assert plug.underruns == 0


def _clip(path: Path, seconds: float = 6.0) -> tuple[np.ndarray, int]:
    """A real song's excerpt (../shared) or, without it, a generated one."""
    if MIX.exists():
        from rtsep.io.audio import read_audio

        x = read_audio(MIX)[0][20 * 44100:int((20 + seconds) * 44100)]
    else:
        t = np.arange(int(seconds * 44100)) / 44100
        rng = np.random.default_rng(0)
        x = np.stack([0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size),
                      0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)], 1)
    import soundfile as sf

    sf.write(path, np.asarray(x, np.float32), 44100, subtype="FLOAT")
    return np.asarray(x, np.float32), 44100


@pytest.mark.slow
@pytest.mark.jack
def test_lv2apply_equals_rtsep_separate(tmp_path, bridge_factory, bundle):
    """lv2apply (offline, freewheeling) puts a song through the plugin with a real tiny
    streaming model; after the reported latency its five stereo outputs equal
    ``rtsep separate``'s stems (same model, model hop 1, lookahead 0) within 1e-4."""
    import soundfile as sf

    from rtsep.nn import build_model
    from rtsep.nn.config import ModelConfig
    from rtsep.runtime.artifact import save_artifact

    cfg = ModelConfig.preset("stream_hybrid", "tiny")
    art = save_artifact(tmp_path / "tiny-stream", build_model(cfg), cfg)
    x, _ = _clip(tmp_path / "clip.wav")
    _, sock = bridge_factory("--model", art, "--model-hop", "1", "--lookahead", "0")
    p = subprocess.run(["lv2apply", "-i", str(tmp_path / "clip.wav"), "-o",
                        str(tmp_path / "lv2.wav"), "-c", "freewheel", "1", URI],
                       env=host_env(bundle, sock), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    p = subprocess.run([sys.executable, "-m", "rtsep", "separate", str(tmp_path / "clip.wav"),
                        "--model", str(art), "--model-hop", "1", "--lookahead", "0",
                        "--out", str(tmp_path / "sep")], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    y, rate = sf.read(tmp_path / "lv2.wav", dtype="float32")
    assert rate == 44100 and y.shape == (x.shape[0], 10)
    # the latency the instance reported (the bridge logs what the plugin's port says);
    # lv2apply gives no block length, so the plugin plans for blocks of 1024
    log = (tmp_path / "bridge-0.log").read_text()
    lat = int(re.search(r"block 1024, model hop 1, latency (\d+) samples", log).group(1))
    assert (lat - 4095) % 1024 == 0
    n = x.shape[0] - lat
    for i, stem in enumerate(STEM_PORTS):
        ref, _ = sf.read(tmp_path / "sep" / "clip" / f"{stem}.wav", dtype="float32")
        err = np.abs(y[lat:, 2 * i:2 * i + 2] - ref[:n]).max()
        assert err <= 1e-4, (stem, err)
        assert np.abs(ref[:n]).max() > 1e-3  # a real separation, not silence
    assert np.abs(y[:lat - 4096]).max() == 0.0


@pytest.mark.jack
def test_refusals_are_clear(tmp_path, bridge_factory, bundle):
    """No bridge running, a host rate rtsep cannot follow, a malformed hello, a second
    bridge on the same socket, a model that does not exist: each fails with a message
    that says what to do."""
    import soundfile as sf

    sf.write(tmp_path / "in.wav", np.zeros((4410, 2), np.float32), 44100)
    p = subprocess.run(["lv2apply", "-i", str(tmp_path / "in.wav"), "-o",
                        str(tmp_path / "out.wav"), URI],
                       env=host_env(bundle, tmp_path / "nobody.sock"), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0 and "start one with 'rtsep bridge'" in p.stderr, p.stderr

    proc, sock = bridge_factory("--test-model", "route:vocals")
    sf.write(tmp_path / "odd.wav", np.zeros((4799, 2), np.float32), 47999)
    p = subprocess.run(["lv2apply", "-i", str(tmp_path / "odd.wav"), "-o",
                        str(tmp_path / "out.wav"), URI], env=host_env(bundle, sock),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "47999 Hz" in p.stderr and "44100 or 48000" in p.stderr, \
        p.stderr

    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock))
        s.sendall(b"hello\n")
        assert s.recv(1000).startswith(b"error expected 'hello RATE BLOCK'")

    p = subprocess.run([sys.executable, "-m", "rtsep", "bridge", "--test-model", "route:vocals",
                        "--socket", str(sock)], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "already listens" in p.stderr, p.stderr

    p = subprocess.run([sys.executable, "-m", "rtsep", "bridge", "--model", "no-such-model",
                        "--socket", str(tmp_path / "other.sock")], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "'no-such-model' not found" in p.stderr, p.stderr
    assert not (tmp_path / "other.sock").exists()
    assert proc.poll() is None and _stats(sock) == {}


def test_the_c_shim_names_the_same_words_as_python():
    """The plugin's C source hard-codes the control words, ring header slots and table
    width it shares with the Python side: they must be the ones rtsep.live defines."""
    from rtsep.live import ringbuf
    from rtsep.live.control import Word
    from rtsep.live.mixer import CONTROL_FIELDS

    src = (ROOT / "rtsep" / "bridge" / "lv2" / "rtsep_lv2.c").read_text()
    consts = {k: int(v) for k, v in re.findall(r"\b([WH]_[A-Z_]+|CONTROL_FIELDS) = (\d+)", src)}
    words = {k[2:]: v for k, v in consts.items() if k.startswith("W_")}
    assert len(words) >= 7 and all(Word[k] == v for k, v in words.items()), words
    assert (consts["H_WRITE"], consts["H_READ"], consts["H_LOST"]) == (
        ringbuf._W, ringbuf._R, ringbuf._LOST)
    assert consts["CONTROL_FIELDS"] == CONTROL_FIELDS
