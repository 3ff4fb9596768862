"""Live controls: gain, mute and solo changed while running, with ramps; the main pair
(the input delayed by exactly the reported latency) and the mix bus. Real dummy JACK
servers, real worker processes; rtsep.live.mixer's arithmetic without JACK."""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.constants import SAMPLE_RATE
from rtsep.live.client import LiveSeparator
from rtsep.live.mixer import CONTROL_FIELDS, N_LIVE, RAMP_S, Controls, Mixer
from rtsep.live.probe import play_record
from rtsep.runtime.stand_ins import RouteModel
from test_live import _ports  # tests/test_live.py


def _controls():
    return Controls(np.zeros((N_LIVE, CONTROL_FIELDS)), np.zeros(1, np.int64))


def test_a_gain_change_ramps_linearly_over_10_ms():
    """A constant signal through the mixer: -inf -> 0 dB on vocals rises linearly over
    RAMP_S (441 samples), across chunk borders, never in one jump."""
    ctl = _controls()
    ctl.set("vocals", "mute", 1)
    mix = Mixer(delay=8, controls=ctl, chunk_max=256)
    out = np.ones((5, 256, 2), np.float32)
    block = np.zeros((256, 2), np.float32)
    assert not mix.process(out, block, 256)[0, :256].any()
    ctl.set("vocals", "mute", 0)
    got = np.concatenate([mix.process(out, block, 100)[0, :100].copy() for _ in range(6)])
    n = round(RAMP_S * SAMPLE_RATE)
    np.testing.assert_allclose(got[:n], np.arange(1, n + 1) / n, atol=1e-5)
    assert (got[n:] == 1.0).all()
    assert np.abs(np.diff(got)).max() <= 1.0 / n + 1e-6


def test_solo_decides_the_mix_bus_and_mute_silences_a_pair():
    ctl = _controls()
    mix = Mixer(delay=4, controls=ctl, chunk_max=64)
    out = np.stack([np.full((64, 2), v, np.float32) for v in (1, 2, 4, 8, 14)])
    block = np.zeros((64, 2), np.float32)
    cm = mix.process(out, block, 64)
    assert (cm[12, :64] == 15).all()  # mix = vocals + drums + bass + other
    ctl.set("drums", "solo", 1)
    ctl.set("bass", "solo", 1)
    ctl.set("bass", "gain", -6.0206)
    ctl.set("other", "mute", 1)
    for _ in range(8):  # past the ramps (441 samples)
        cm = mix.process(out, block, 64)
    np.testing.assert_allclose(cm[12, :64], 2 + 4 * 0.5, rtol=1e-4)  # only the soloed
    np.testing.assert_allclose(cm[4, :64], 2.0, rtol=1e-4)  # bass pair at -6 dB
    assert (cm[0, :64] == 1).all() and not cm[6:8, :64].any()  # vocals as is, other muted
    with pytest.raises(ValueError, match="unknown output"):
        ctl.set("piano", "gain", 0)
    with pytest.raises(ValueError, match="finite"):
        ctl.set("vocals", "gain", float("nan"))


@pytest.mark.jack
def test_main_is_the_input_at_the_reported_latency_and_controls_act_live(jack_server_factory):
    """Bit-exact main pair; the vocals fader moved while playing: the vocals pair and
    the mix bus follow within a ramp, main does not move."""
    srv = jack_server_factory(256)
    name = "rtsep-mix"
    with LiveSeparator(RouteModel("vocals"), client_name=name, servername=srv.name) as sep:
        lat = sep.latency_samples
        n = 2 * SAMPLE_RATE
        rng = np.random.default_rng(0)
        sig = (0.25 * rng.standard_normal((n, 2))).astype(np.float32)
        sinks = _ports(name, ("main_L", "main_R", "vocals_L", "mix_L"))
        info: dict = {}
        rec = play_record(sig, [[f"{name}:in_L"], [f"{name}:in_R"]], sinks,
                          record_frames=n + lat, servername=srv.name, stats=info)
        assert info["discontinuities"] == 0 and sep.stats()["underruns"] == 0
        np.testing.assert_array_equal(rec[lat:, 0], sig[:, 0])  # bit for bit
        np.testing.assert_array_equal(rec[lat:, 1], sig[:, 1])
        assert not rec[:lat, :2].any()
        # a steady tone on vocals, the fader taken to -20 dB half-way
        t = np.arange(n) / SAMPLE_RATE
        tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[:, None]
        import threading

        timer = threading.Timer(1.0 + lat / SAMPLE_RATE, sep.set_control, ("vocals", "gain", -20.0))
        timer.start()
        rec = play_record(tone, [[f"{name}:in_L", f"{name}:in_R"]], sinks, record_frames=n + lat,
                          servername=srv.name)
        timer.join()
        assert sep.control("vocals") == {"gain": -20.0, "mute": False, "solo": False}
        del timer
    ref = np.zeros(n + lat, np.float32)
    ref[lat:] = tone[:, 0]
    ratio_vocals = _envelope_ratio(rec[:, 2], ref)
    ratio_main = _envelope_ratio(rec[:, 0], ref)
    assert ratio_vocals[0] == pytest.approx(1.0, abs=1e-3) and ratio_vocals[-1] == pytest.approx(0.1, abs=1e-3)
    assert ratio_main[0] == ratio_main[-1] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(rec[:, 3], rec[:, 2], atol=1e-6)  # mix = the only stem
    # no click: the gain glides from 1 to 0.1 over the ramp (441 samples), no jump
    valid = np.abs(ref) > 0.05
    idx = np.flatnonzero(valid[lat + 100:]) + lat + 100
    g = rec[idx, 2] / ref[idx]
    assert np.abs(np.diff(g)).max() < 0.05
    moving = idx[(g < 0.99) & (g > 0.11)]
    assert 0.8 * RAMP_S * SAMPLE_RATE < moving[-1] - moving[0] < 1.2 * RAMP_S * SAMPLE_RATE


def _envelope_ratio(x: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Gain of ``x`` against ``ref`` over the first and the last quarter second of the tone."""
    q = SAMPLE_RATE // 4
    lat_end = len(ref) - 1
    first = slice(len(ref) - 2 * SAMPLE_RATE + 100, len(ref) - 2 * SAMPLE_RATE + 100 + q)
    last = slice(lat_end - q, lat_end)
    return (float(np.dot(x[first], ref[first]) / np.dot(ref[first], ref[first])),
            float(np.dot(x[last], ref[last]) / np.dot(ref[last], ref[last])))


@pytest.mark.jack
def test_osc_controls_status_meters_and_bad_messages(jack_server_factory):
    """Real UDP: a gain, a mute and a solo over OSC reach the controls; /rtsep/status
    answers with the stats; a subscriber gets levels of every output at least every
    50 ms (here: a quiet input, so low levels); bad messages are counted, never fatal."""
    import json
    import socket
    import time

    from pythonosc.osc_message import OscMessage
    from pythonosc.udp_client import SimpleUDPClient

    from rtsep.live.mixer import LIVE_OUTPUTS
    from rtsep.live.osc import OscControl

    srv = jack_server_factory(256)
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep-osc", servername=srv.name) as sep:
        osc = OscControl(sep, 0)
        try:
            me = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            me.bind(("127.0.0.1", 0))
            me.settimeout(2.0)
            send = SimpleUDPClient("127.0.0.1", osc.port)
            send._sock = me  # replies come back to this socket
            send.send_message("/rtsep/vocals/gain", -12.5)
            send.send_message("/rtsep/drums/mute", 1)
            send.send_message("/rtsep/bass/solo", 1)
            for bad in (("/rtsep/piano/gain", 1.0), ("/rtsep/vocals/gain", "loud"),
                        ("/rtsep/vocals/gain", float("nan")), ("/nowhere", 1)):
                send.send_message(*bad)
            send.send_message("/rtsep/vocals/gain", [])  # no argument
            deadline = time.monotonic() + 5
            while osc.received < 3 or osc.invalid < 5:
                assert time.monotonic() < deadline, (osc.received, osc.invalid)
                sep.wait(0.05)
            assert sep.control("vocals")["gain"] == -12.5
            assert sep.control("drums")["mute"] and sep.control("bass")["solo"]
            send.send_message("/rtsep/status", [])
            msg = OscMessage(me.recv(65536))
            assert msg.address == "/rtsep/status"
            status = json.loads(msg.params[0])
            assert status["latency_samples"] == sep.latency_samples and status["osc_invalid"] == 5
            send.send_message("/rtsep/subscribe", [])
            t0 = time.monotonic()
            seen = set()
            while len(seen) < len(LIVE_OUTPUTS):
                m = OscMessage(me.recv(65536))
                if m.address.endswith("/level"):
                    seen.add(m.address.split("/")[2])
                    peak, rms = m.params
                    assert -120.0 <= rms <= peak <= 0.0
            assert time.monotonic() - t0 < 0.5  # every output within a few meter periods
            send.send_message("/rtsep/unsubscribe", [])
            assert sep.stats()["underruns"] == 0
        finally:
            osc.close()
            me.close()


@pytest.mark.jack
def test_terminal_mixer_keys_change_the_controls(jack_server_factory, tmp_path):
    """`rtsep live --ui` in a pseudo-terminal: keys select drums, take it down 3 dB, mute
    it, solo bass; the controls follow (read back from --json-stats); q quits with 0."""
    import json
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    srv = jack_server_factory(256)
    stats = tmp_path / "stats.json"
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "rtsep", "live", "--server", srv.name, "--name",
                          "rtsep-ui", "--test-model", "route:vocals", "--ui", "--json-stats",
                          str(stats)], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    screen = b""

    def read_for(seconds):
        nonlocal screen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    return

    try:
        deadline = time.monotonic() + 60
        while not stats.exists():
            assert p.poll() is None and time.monotonic() < deadline, screen[-2000:]
            read_for(0.2)
        for k in ("2", "\x1b[B", "\x1b[B", "-", "m", "3", "s"):
            os.write(master, k.encode())
            read_for(0.15)
        read_for(1.5)  # the stats file is rewritten every second
        c = json.loads(stats.read_text())["controls"]
        assert c["drums"] == {"gain": -3.0, "mute": True, "solo": False}, c
        assert c["bass"]["solo"] and c["vocals"] == {"gain": 0.0, "mute": False, "solo": False}
        assert b"drums" in screen and b"latency" in screen
        os.write(master, b"q")
        deadline = time.monotonic() + 15
        while p.poll() is None and time.monotonic() < deadline:
            read_for(0.2)
        assert p.returncode == 0, screen[-2000:]
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)


@pytest.mark.jack
def test_jack_midi_drives_the_controls(jack_server_factory, tmp_path):
    """A JACK MIDI client plays a controller into midi_in: fader CCs set gains, button CCs
    toggle mute on press only, a mapped note toggles solo; other messages are ignored."""
    import json
    import time

    import jack

    from rtsep.live.midi import cc_to_db

    assert cc_to_db(121) == 0.0 and cc_to_db(0) == -120.0
    srv = jack_server_factory(256)
    table = {"cc": {"0": ["vocals", "gain"], "1:1": ["drums", "gain"], "48": ["vocals", "mute"]},
             "note": {"36": ["bass", "solo"]}}
    (tmp_path / "map.json").write_text(json.dumps(table))
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep-midi", servername=srv.name,
                       midi_map=tmp_path / "map.json") as sep:
        sender = jack.Client("rtsep-test-midi", servername=srv.name, no_start_server=True)
        port = sender.midi_outports.register("out")
        queue: list[bytes] = []

        @sender.set_process_callback
        def process(frames):
            port.clear_buffer()
            while queue:
                port.write_midi_event(0, queue.pop(0))

        sender.activate()
        try:
            sender.connect(port, "rtsep-midi:midi_in")
            # the new connection takes effect at a later cycle: an unmapped CC, resent
            # until it arrives, proves the path before the messages under test
            deadline = time.monotonic() + 5
            while sep.midi_counts()["midi_ignored"] == 0:
                assert time.monotonic() < deadline, "no MIDI through the new connection"
                queue.append(bytes([0xB0, 100, 1]))
                sep.wait(0.05)
            while queue:  # every probe sent, and read by the client's MIDI thread
                sep.wait(0.02)
            sep.wait(0.2)
            base = sep.midi_counts()["midi_ignored"]
            msgs = [bytes([0xB0, 0, 0]),          # vocals fader to the bottom: off
                    bytes([0xB0, 1, 121]),        # drums (channel 1 only): 0 dB
                    bytes([0xB1, 1, 20]),         # the same CC on channel 2: not mapped
                    bytes([0xB0, 48, 127]), bytes([0xB0, 48, 0]),  # press, release: muted
                    bytes([0x90, 36, 100]), bytes([0x80, 36, 0]),  # note on, off: bass solo
                    bytes([0xF0, 1, 2, 3, 0xF7])]  # sysex: not ours
            sep.set_control("drums", "gain", -30)
            for m in msgs:
                queue.append(m)
                time.sleep(0.02)
            deadline = time.monotonic() + 5
            while sep.midi_counts()["midi_applied"] + sep.midi_counts()["midi_ignored"] < 6 + base:
                assert time.monotonic() < deadline, sep.midi_counts()
                sep.wait(0.05)
            assert sep.control("vocals") == {"gain": -120.0, "mute": True, "solo": False}
            assert sep.control("drums")["gain"] == 0.0
            assert sep.control("bass")["solo"]
            c = sep.midi_counts()
            assert c["midi_applied"] == 5 and c["midi_ignored"] == 2 + base and c["midi_dropped"] == 0, c
        finally:
            sender.deactivate()
            sender.close()


def test_midi_map_files_are_checked(tmp_path):
    from rtsep.errors import ConfigError
    from rtsep.live.midi import DEFAULT_MAP, MidiMap

    assert MidiMap(DEFAULT_MAP).cc[(None, 0)] == ("vocals", "gain")
    for bad, needle in (({"cc": {"200": ["vocals", "gain"]}}, "0-127"),
                        ({"cc": {"17:1": ["vocals", "gain"]}}, "channel 1-16"),
                        ({"cc": {"1": ["piano", "gain"]}}, "OUTPUT one of"),
                        ({"note": {"36": ["drums", "gain"]}}, "not gain"),
                        ({"pitchbend": {}}, "JSON object")):
        with pytest.raises(ConfigError, match=needle):
            MidiMap(bad)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        MidiMap.from_file(tmp_path / "m.json")


@pytest.mark.jack
def test_nsm_session_names_the_client_saves_and_restores_controls(jack_server_factory, tmp_path):
    """A session manager (this test, over real UDP) launches `rtsep live` with NSM_URL:
    it announces, takes the client id as its JACK name, saves its controls on
    /nsm/client/save, and a second launch in the same session gets them back."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys

    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    from rtsep.live.jack.server import open_client

    srv = jack_server_factory(256)
    mgr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mgr.bind(("127.0.0.1", 0))
    mgr.settimeout(60)
    env = dict(os.environ, NSM_URL=f"osc.udp://127.0.0.1:{mgr.getsockname()[1]}/")
    path = str(tmp_path / "session" / "rtsep.nXYZ")
    (tmp_path / "session").mkdir()

    def send(to, address, *args):
        b = OscMessageBuilder(address=address)
        for a in args:
            b.add_arg(a)
        mgr.sendto(b.build().dgram, to)

    def expect(address):
        while True:
            data, peer = mgr.recvfrom(65536)
            m = OscMessage(data)
            if m.address == address:
                return m, peer

    def launch():
        p = subprocess.Popen([sys.executable, "-m", "rtsep", "live", "--server", srv.name,
                              "--test-model", "route:vocals"], env=env,
                             stderr=subprocess.PIPE, text=True)
        m, peer = expect("/nsm/server/announce")
        assert m.params[0] == "rtsep" and m.params[3:5] == [1, 2]
        send(peer, "/reply", "/nsm/server/announce", "hello", "test-manager", ":")
        send(peer, "/nsm/client/open", path, "rtsep", "rtsep.nXYZ")
        m, _ = expect("/reply")
        assert m.params[0] == "/nsm/client/open"
        return p, peer

    p, peer = launch()
    try:
        c = open_client("rtsep-test-nsm", srv.name)
        assert "rtsep.nXYZ:vocals_L" in [x.name for x in c.get_ports()]
        c.close()
        send(peer, "/nsm/client/save")
        m, _ = expect("/reply")
        assert m.params == ["/nsm/client/save", "saved"]
        saved = json.loads(open(path + ".rtsep.json").read())
        assert saved["controls"]["vocals"] == {"gain": 0.0, "mute": False, "solo": False}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(15)
    assert p.returncode == 0, p.stderr.read()
    saved["controls"]["vocals"] = {"gain": -9.5, "mute": True, "solo": False}
    open(path + ".rtsep.json", "w").write(json.dumps(saved))
    p, peer = launch()
    try:
        send(peer, "/nsm/client/save")  # saves what it restored
        expect("/reply")
        again = json.loads(open(path + ".rtsep.json").read())
        assert again["controls"]["vocals"] == {"gain": -9.5, "mute": True, "solo": False}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(15)
        mgr.close()
    assert p.returncode == 0


@pytest.mark.jack
def test_ports_describe_themselves_in_jack_metadata(jack_server_factory):
    """Pretty names, port groups and order are set on our ports (what patchbays show)."""
    import jack

    from rtsep.live.jack.server import open_client

    srv = jack_server_factory(256)
    with LiveSeparator(RouteModel("vocals"), client_name="rtsep-meta", servername=srv.name):
        c = open_client("rtsep-test-meta", srv.name)
        try:
            port = c.get_port_by_name("rtsep-meta:vocals_R")
            assert jack.get_property(port, jack.METADATA_PRETTY_NAME)[0] == b"Vocals R"
            assert jack.get_property(port, jack.METADATA_PORT_GROUP)[0] == b"vocals"
            main = c.get_port_by_name("rtsep-meta:main_L")
            assert jack.get_property(main, jack.METADATA_PRETTY_NAME)[0] == b"Main L"
            midi = c.get_port_by_name("rtsep-meta:midi_in")
            assert jack.get_property(midi, jack.METADATA_PRETTY_NAME)[0] == b"MIDI control in"
        finally:
            c.close()
