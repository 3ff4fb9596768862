"""Reported vs measured latency of the live client, at several JACK periods.

For each period this starts a private dummy-backend JACK server (or uses yours with
``--server``), starts :class:`rtsep.live.client.LiveSeparator`, plays unit clicks into its
inputs from a separate player client and records the four stem outputs with a
separate recorder client, both aligned by JACK frame time. The stems sum to the
input (ratio masks), so the click's position in the sum of the stems is the delay,
whatever the model. Prints one JSON object per period::

    {"bench": "latency", "period": 256, "reported_samples": 4607,
     "measured_samples": 4607, "delta_samples": 0, "jack_reported": [4607, 4607],
     "engine_latency_samples": 4095, "reserve_periods": 1, "latency_ms": 104.47, ...}

``reported_samples`` is what the client tells JACK (``jack_port_get_latency_range``
of ``vocals_L``, capture mode, in ``jack_reported``); ``measured_samples`` the
click delay (all clicks must agree: ``clicks_agree``).

Usage::

    python benchmarks/latency.py                              # periods 64..1024, route test model
    python benchmarks/latency.py --model default --model-hop auto --periods 256,1024
    python benchmarks/latency.py --server default             # your running server, its period
    python benchmarks/latency.py --rate 48000 --periods 256,1024  # a 48 kHz server
    python benchmarks/latency.py --pipewire --rate 48000 --periods 256,1024  # PipeWire's JACK
    python benchmarks/latency.py --pipewire --rate 44100 --switch-to 48000 --periods 256

``--pipewire`` starts a private headless PipeWire daemon
(:class:`rtsep.live.jack.server.PipeWireServer`), forces its rate and quantum, and
measures in a child process run under ``pw-jack``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from rtsep.constants import SAMPLE_RATE


def measure(args, servername: str | None) -> list[dict]:
    """The click test on one server; with ``--switch-to``, again after the rate switch."""
    import time

    from rtsep.live.client import LiveSeparator
    from rtsep.runtime.stand_ins import parse_test_model

    model = parse_test_model(args.test_model) if args.test_model else args.model
    hop = args.model_hop if args.model_hop == "auto" else int(args.model_hop)
    name = f"rtsep-lat-{os.getpid()}"
    with LiveSeparator(model, client_name=name, servername=servername, worker=args.worker,
                       lookahead=args.lookahead, model_hop=hop,
                       reserve_periods=args.reserve_periods) as sep:
        rows = [_clicks(args, sep, servername)]
        if args.switch_to:
            from rtsep.live.jack.server import pipewire_setting, server_kind

            if server_kind() != "pipewire":
                raise SystemExit("latency: --switch-to needs PipeWire (--pipewire): jackd "
                                 "cannot change its rate while running")
            before = sep.stats()["rate_changes"]
            t0 = time.monotonic()
            pipewire_setting("clock.force-rate", args.switch_to)
            while sep.stats()["rate_changes"] == before or sep.latency_samples != \
                    sep.reporter.latency_samples:
                sep.wait(0.005)
                if time.monotonic() - t0 > 10:
                    raise SystemExit(f"latency: the client did not follow the switch to "
                                     f"{args.switch_to} Hz within 10 s")
            applied_ms = 1e3 * (time.monotonic() - t0)
            row = _clicks(args, sep, servername)
            row.update(switched_from=rows[0]["rate"], switch_applied_ms=round(applied_ms, 1),
                       back_to_output_ms=round(applied_ms + row["latency_ms"], 1),
                       rate_changes=sep.stats()["rate_changes"] - before)
            rows.append(row)
    return rows


def _clicks(args, sep, servername: str | None) -> dict:
    """Clicks through the running client ``sep``: the delay measured and reported."""
    from rtsep.live.jack import latency as jl
    from rtsep.live.jack.server import open_client
    from rtsep.live.probe import measure_click_delay

    name = sep.client.name
    lat = sep.latency_samples
    sinks = [f"{name}:{stem}_L" for stem in ("vocals", "drums", "bass", "other")]
    tries = 0
    while True:
        tries += 1
        before = sep.stats()["underruns"]
        res = measure_click_delay([f"{name}:in_L", f"{name}:in_R"], sinks,
                                  expected_max=lat + 4096, servername=servername,
                                  n_clicks=args.clicks, name=f"{name}-probe")
        clean = res.discontinuities == 0 and sep.stats()["underruns"] == before
        if clean or tries >= 3:
            break
    # the stems sum to the input: locate each click in the sum
    total = res.recording.sum(axis=1)
    spacing = lat + 4096 + 8192
    delays = []
    peaks = []
    for k in range(args.clicks):
        c = 4096 + k * spacing
        seg = np.abs(total[c:c + spacing])
        delays.append(int(seg.argmax()))
        peaks.append(float(seg.max()))
    obs = open_client(f"{name}-obs", servername)
    try:
        jack_rep = jl.get_latency_range(obs.get_port_by_name(f"{name}:vocals_L"), jl.CAPTURE)
    finally:
        obs.close()
    s = sep.stats()
    plan = sep.plan
    measured = max(set(delays), key=delays.count)
    return {
        "bench": "latency", "period": s["period"], "reported_samples": lat,
        "measured_samples": measured, "delta_samples": measured - lat,
        "jack_reported": list(jack_rep), "clicks_agree": len(set(delays)) == 1,
        "click_delays": delays, "click_peaks": [round(p, 5) for p in peaks],
        "engine_latency_samples": s["engine_latency_samples"],
        "reserve_periods": plan.reserve_periods, "model_hop": plan.model_hop,
        "lookahead": args.lookahead, "rate": s["rate"],
        "latency_ms": round(1e3 * lat / s["rate"], 2),
        "model": args.test_model or args.model, "model_call_ms": round(plan.model_ms, 3),
        "device": plan.device, "worker": args.worker,
        "frame_time_discontinuities": res.discontinuities, "underruns": s["underruns"],
        "tries": tries,
    }


def _on_pipewire(args, argv) -> int:
    """Each period on a private PipeWire daemon, measured by this script under pw-jack."""
    import subprocess

    from rtsep.live.jack.server import PipeWireServer

    argv = list(sys.argv[1:] if argv is None else argv)
    argv = [a for a in argv if a != "--pipewire"]
    rc = 0
    with PipeWireServer(rate=args.rate) as pw:
        for period in (int(p) for p in args.periods.split(",")):
            pw.set_quantum(period)
            cmd = pw.command([sys.executable, __file__, *argv, "--server", "default"])
            res = subprocess.run(cmd, env=pw.env(), capture_output=True, text=True)
            for line in res.stdout.splitlines():
                if line.startswith("{"):
                    row = json.loads(line)
                    row["server"] = "pipewire"
                    print(json.dumps(row), flush=True)
            if res.returncode:
                print(res.stderr.strip()[-2000:], file=sys.stderr)
                rc = res.returncode
    return rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", default="64,128,256,512,1024",
                    help="comma-separated JACK periods (private dummy servers)")
    ap.add_argument("--server", default=None,
                    help="measure on this running server instead (its own period)")
    ap.add_argument("--async-server", action="store_true",
                    help="private servers in JACK's default asynchronous mode (default: -S, so "
                         "that a late probe callback cannot misread the frame time)")
    ap.add_argument("--model", default="default", help="model NAME or PATH (with --test-model '')")
    ap.add_argument("--test-model", default="route:vocals",
                    help="test model (route:STEM, random:ARCH[:SIZE]); '' to use --model "
                         "[default: route:vocals]")
    ap.add_argument("--model-hop", default="1", help="K frames or 'auto' [default: 1]")
    ap.add_argument("--lookahead", type=int, default=0)
    ap.add_argument("--reserve-periods", type=int, default=None)
    ap.add_argument("--worker", choices=("process", "thread"), default="process")
    ap.add_argument("--clicks", type=int, default=4)
    ap.add_argument("--rate", type=int, default=SAMPLE_RATE,
                    help="sample rate of the private servers (Hz) [default: 44100]")
    ap.add_argument("--pipewire", action="store_true",
                    help="a private PipeWire daemon (through pw-jack) instead of jackd")
    ap.add_argument("--switch-to", type=int, default=None, metavar="RATE",
                    help="(PipeWire) after the first measurement switch the graph to RATE "
                         "while the client runs, and measure again")
    args = ap.parse_args(argv)
    from rtsep.errors import RtsepError
    from rtsep.live.jack.server import DummyServer

    try:
        if args.server:
            for row in measure(args, args.server):
                print(json.dumps(row), flush=True)
            return 0
        if args.pipewire:
            return _on_pipewire(args, argv)
        for period in (int(p) for p in args.periods.split(",")):
            name = f"rtsep-latency-{os.getpid()}-{period}"
            with DummyServer(name, period=period, rate=args.rate, sync=not args.async_server):
                for row in measure(args, name):
                    print(json.dumps(row), flush=True)
    except RtsepError as exc:
        print(f"latency: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
