"""The live tests' core as a script, for servers a test process cannot join itself.

A process chooses its libjack when it starts, so the tests run this script under
``pw-jack`` (PipeWire's JACK layer) against a private PipeWire daemon
(``tests/test_live_pipewire.py``). It prints one JSON object per measurement::

    python tests/live_core.py click              # route:drums, clicks on all 14 outputs
    python tests/live_core.py switch --to 48000  # clicks, switch the graph's rate, clicks
    python tests/live_core.py soak --seconds 60  # the default model on a looping song

``--watchdog S`` (before the command) dumps every thread's stack and exits after S seconds.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MIX = ROOT.parent / "shared" / "data" / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def _clicks(sep, n_clicks: int = 2) -> dict:
    """Click delays and peaks on every output port of ``sep`` (retried when the
    measurement was disturbed: a frame-time jump near a click, or underruns meanwhile;
    PipeWire's clock jumps now and then on a loaded virtual machine)."""
    from rtsep.live.client import PORT_NAMES_OUT
    from rtsep.live.jack import latency as jl
    from rtsep.live.jack.server import open_client
    from rtsep.live.probe import measure_click_delay

    name = sep.client.name
    for _ in range(6):
        before = sep.stats()["underruns"]
        res = measure_click_delay([f"{name}:in_L", f"{name}:in_R"],
                                  [f"{name}:{p}" for p in PORT_NAMES_OUT],
                                  expected_max=sep.latency_samples + 4096, n_clicks=n_clicks,
                                  name=f"{name}-probe")
        if res.disturbed == 0 and sep.stats()["underruns"] == before:
            break
    obs = open_client(f"{name}-obs")
    try:
        reported = jl.get_latency_range(obs.get_port_by_name(f"{name}:vocals_L"), jl.CAPTURE)
    finally:
        obs.close()
    return {"ports": list(PORT_NAMES_OUT), "delays": res.delays.tolist(),
            "peaks": res.peaks.tolist(), "latency": sep.latency_samples,
            "jack_reported": list(reported), "rate": sep.rate,
            "discontinuities": res.discontinuities, "disturbed": res.disturbed,
            "stats": sep.stats()}


def click(args) -> list[dict]:
    from rtsep.live.client import LiveSeparator
    from rtsep.runtime.stand_ins import RouteModel

    with LiveSeparator(RouteModel("drums"), client_name="rtsep-core") as sep:
        return [_clicks(sep)]


def switch(args) -> list[dict]:
    from rtsep.live.client import LiveSeparator
    from rtsep.live.jack.server import pipewire_setting
    from rtsep.runtime.stand_ins import RouteModel

    with LiveSeparator(RouteModel("drums"), client_name="rtsep-core") as sep:
        rows = [_clicks(sep)]
        t0 = time.monotonic()
        pipewire_setting("clock.force-rate", args.to)
        while sep.stats()["rate_changes"] == 0 or sep.latency_samples != \
                sep.reporter.latency_samples:
            sep.wait(0.005)
            if time.monotonic() - t0 > 10:
                break
        applied = time.monotonic() - t0
        row = _clicks(sep)
        row["applied_s"] = applied
        row["events"] = list(sep.worker_events)
        rows.append(row)
    return rows


def soak(args) -> list[dict]:
    from rtsep.io.audio import read_audio
    from rtsep.live.client import LiveSeparator
    from rtsep.live.probe import LoopPlayer

    x, _ = read_audio(MIX)
    with LiveSeparator("default", client_name="rtsep-soak", model_hop="auto") as sep:
        with LoopPlayer(x[:30 * 44100], ["rtsep-soak:in_L", "rtsep-soak:in_R"]) as player:
            base = sep.stats()
            sep.wait(timeout=args.seconds)
            s = sep.stats()
    return [{"base": base, "end": s, "player_underruns": player.underruns,
             "model_hop": sep.plan.model_hop, "peak_in": float(np.abs(x).max())}]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("click")
    p = sub.add_parser("switch")
    p.add_argument("--to", type=int, required=True)
    p = sub.add_parser("soak")
    p.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--watchdog", type=float, default=0.0, metavar="S",
                    help="after S seconds print every thread's stack to stderr and exit "
                         "(a hang then says where it hung); 0: never")
    args = ap.parse_args(argv)
    if args.watchdog > 0:
        faulthandler.dump_traceback_later(args.watchdog, exit=True)
    for row in {"click": click, "switch": switch, "soak": soak}[args.what](args):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
