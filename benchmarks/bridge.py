"""The LV2 bridge: what the plugin's ``run()`` costs the host, call by call.

``rtsep.lv2`` (:mod:`rtsep.bridge`) only copies between the host's buffers and the
shared-memory rings of an ``rtsep bridge`` engine process; the target is at most 2 %
of a 256-sample period (5.8 ms at 44.1 kHz), i.e. 116 us. Prints JSON lines:

- ``bridge_run_cost``: the plugin loaded in this process (:mod:`rtsep.bridge.host`,
  ctypes), ``run(PERIOD)`` called at real-time pace against a running bridge for
  ``--seconds``, each call timed (it includes ctypes' own call overhead, ~1 us):
  median, p99 and max in us and as a share of the period; underruns seen;
- ``bridge_run_cost_jalv`` (when ``jalv`` and ``jackd`` are installed): the plugin in
  jalv, a real LV2 host, on a private dummy JACK server at the same period for
  ``--seconds``; the plugin's own clock (``clock_gettime`` around its work) gives the
  mean and the longest ``run()`` and the bridge counts cycles and underruns; with
  ``--click 64,256,1024``, at each period, the delay a click takes through the
  plugin in jalv beside the ``latency`` port's value as jalv reads it.

The engine behind the plugin is a test model by default (``--test-model
route:vocals``: the audio path without a network, so the figure is the plugin's,
not the model's CPU load); ``--model default`` runs the real default model beside it.

Usage::

    python benchmarks/bridge.py                      # period 256, 10 s each
    python benchmarks/bridge.py --model default --click 64,256,1024
    python benchmarks/bridge.py --model default --offline ../shared/data/real/music-delta-80s-rock
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from rtsep.constants import SAMPLE_RATE


def ctypes_cost(bundle: Path, period: int, seconds: float) -> dict:
    from rtsep.bridge.host import PluginInstance

    n_calls = int(seconds * SAMPLE_RATE / period)
    t = np.empty(n_calls)
    rng = np.random.default_rng(0)
    with PluginInstance(bundle, SAMPLE_RATE, period) as plug:
        dt_period = period / SAMPLE_RATE
        next_at = time.perf_counter()
        for i in range(n_calls):
            plug.inputs[:] = 0.1 * rng.standard_normal(plug.inputs.shape)
            t0 = time.perf_counter_ns()
            plug.run(period)
            t[i] = (time.perf_counter_ns() - t0) * 1e-3
            next_at += dt_period
            wait = next_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        latency, underruns = plug.latency, plug.underruns
    period_us = 1e6 * period / SAMPLE_RATE
    return {"bench": "bridge_run_cost", "host": "ctypes (in process)", "period": period,
            "calls": n_calls, "median_us": round(float(np.median(t)), 2),
            "p99_us": round(float(np.percentile(t, 99)), 2), "max_us": round(float(t.max()), 1),
            "share_of_period_median": round(float(np.median(t)) / period_us, 5),
            "share_of_period_p99": round(float(np.percentile(t, 99)) / period_us, 5),
            "latency": latency, "underruns": underruns}


def jalv_cost(bundle: Path, sock: Path, period: int, seconds: float,
              click: bool = False, realtime: bool = False) -> dict | None:
    """The plugin in jalv on a private dummy JACK server: run() mean/max from the plugin's
    own clock over ``seconds``; with ``click``, also the click test's delay (the
    tests' measurement) against the ``latency`` port as jalv reads it."""
    from rtsep.bridge.host import Jalv
    from rtsep.bridge.server import query_stats
    from rtsep.live.jack.server import DummyServer, jackd_path
    from rtsep.live.probe import measure_click_delay

    if jackd_path() is None or shutil.which("jalv") is None:
        return None
    name = f"rtsep-bench-bridge-{os.getpid()}-{period}"
    with DummyServer(name, period=period, sync=True, realtime=realtime):
        jalv = Jalv(bundle, sock, name, "rtsep-lv2")
        try:
            latency_port = int(jalv.monitors()["latency"])
            start = next(iter(query_stats(sock).values()))
            time.sleep(seconds)
            s = next(iter(query_stats(sock).values()))
            row = {}
            if click:
                spacing = latency_port + 4096 + 8192
                res = measure_click_delay([jalv.port("in_l"), jalv.port("in_r")],
                                          [jalv.port("vocals_l"), jalv.port("instrumental_l")],
                                          expected_max=latency_port + 4096, servername=name,
                                          n_clicks=3, spacing=spacing)
                # vocals + instrumental = the input through the masks (they sum to one),
                # whichever stem a real model puts the click in
                both = np.abs(res.recording.sum(axis=1))
                clicks = [int(np.argmax(both[c:c + spacing]))
                          for c in 4096 + spacing * np.arange(3)]
                peaks = [round(float(both[c + d]), 4)
                         for c, d in zip(4096 + spacing * np.arange(3), clicks)]
                row = {"click_delays": clicks, "click_peaks": peaks,
                       "click_discontinuities": res.discontinuities}
            underruns_host = int(jalv.monitors()["underruns"])
        finally:
            jalv.close()
    period_us = 1e6 * period / SAMPLE_RATE
    return {"bench": "bridge_run_cost_jalv", "host": "jalv", "period": period,
            "server": "jackd dummy, " + ("realtime (-R)" if realtime else "not realtime"),
            "cycles": s["cycles"] - start["cycles"], "mean_us": round(s["run_us_mean"], 2),
            "max_us": round(s["run_us_max"], 1),
            "share_of_period_mean": round(s["run_us_mean"] / period_us, 5),
            "latency_port": latency_port, **row, "model_hop": s["model_hop"],
            "worker_ms_p50": round(s["worker_ms_p50"], 2),
            "worker_ms_p99": round(s["worker_ms_p99"], 2),
            "underruns": s["underruns"] - start["underruns"], "underruns_total": underruns_host}


def offline(bundle: Path, sock: Path, log: Path, track: Path, args, tmp: Path) -> dict:
    """``track`` through the plugin in lv2apply (freewheeling) and through ``rtsep
    separate`` with the same model and settings: the largest difference per stem after
    the latency the instance reported (the bridge's log line)."""
    import re
    import sys

    import soundfile as sf

    from rtsep.bridge import URI
    from rtsep.bridge.host import host_env
    from rtsep.constants import OUTPUTS

    from rtsep.io.audio import read_audio
    from rtsep.io.tracks import read_track

    wav = tmp / "in.wav"  # a file, or a track folder's mixture (its stems' sum without one)
    mix = read_track(track)["mixture"] if track.is_dir() else read_audio(track)[0]
    sf.write(wav, mix, SAMPLE_RATE, subtype="FLOAT")
    t0 = time.monotonic()
    subprocess.run(["lv2apply", "-i", str(wav), "-o", str(tmp / "lv2.wav"), "-c", "freewheel",
                    "1", URI], env=host_env(bundle, sock), check=True, capture_output=True)
    t_lv2 = time.monotonic() - t0
    model = ["--model", args.model] if args.model else []
    subprocess.run([sys.executable, "-m", "rtsep", "separate", str(wav), *model,
                    "--model-hop", "1", "--lookahead", "0", "--out", str(tmp / "sep")],
                   check=True, capture_output=True)
    lat = int(re.findall(r"latency (\d+) samples", log.read_text())[-1])
    y, _ = sf.read(tmp / "lv2.wav", dtype="float32")
    n = y.shape[0] - lat
    diff = {}
    for i, stem in enumerate(OUTPUTS):
        ref, _ = sf.read(tmp / "sep" / "in" / f"{stem}.wav", dtype="float32")
        diff[stem] = float(np.abs(y[lat:, 2 * i:2 * i + 2] - ref[:n]).max())
    return {"bench": "bridge_offline", "host": "lv2apply", "track": str(track),
            "seconds": round(y.shape[0] / SAMPLE_RATE, 1), "latency": lat,
            "lv2apply_s": round(t_lv2, 1), "max_abs_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--click", default=None, metavar="PERIODS",
                    help="also the click test through jalv at these periods (e.g. 64,256,1024)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--realtime", action="store_true",
                    help="run the dummy JACK server (and so jalv's process thread) realtime")
    ap.add_argument("--offline", type=Path, default=None, metavar="FILE",
                    help="also FILE (or a track folder's mixture) through lv2apply against "
                         "rtsep separate (needs --model; "
                         "model hop 1, lookahead 0)")
    ap.add_argument("--test-model", default="route:vocals")
    ap.add_argument("--model", default=None, help="a real model instead of --test-model")
    args = ap.parse_args()
    from rtsep.bridge.plugin import build_bundle
    from rtsep.bridge.server import spawn

    with tempfile.TemporaryDirectory(prefix="rtsep-bench-bridge-") as tmp:
        bundle = build_bundle(Path(tmp) / "lv2")
        sock = Path(tmp) / "bridge.sock"
        model = ["--model", args.model] if args.model else ["--test-model", args.test_model]
        log = Path(tmp) / "bridge.log"
        if args.offline:
            model += ["--model-hop", "1", "--lookahead", "0"]
        with open(log, "w") as log_file:
            bridge = spawn(sock, model, timeout_s=600, log=log_file)
        os.environ["RTSEP_BRIDGE_SOCKET"] = str(sock)
        try:
            print(json.dumps({**ctypes_cost(bundle, args.period, args.seconds),
                              "model": args.model or args.test_model}), flush=True)
            periods = [int(p) for p in args.click.split(",")] if args.click else [args.period]
            for period in periods:
                row = jalv_cost(bundle, sock, period, args.seconds, click=bool(args.click),
                                realtime=args.realtime)
                if row is not None:
                    print(json.dumps({**row, "model": args.model or args.test_model}),
                          flush=True)
            if args.offline:
                print(json.dumps({**offline(bundle, sock, log, args.offline, args, Path(tmp)),
                                  "model": args.model}), flush=True)
        finally:
            bridge.terminate()
            bridge.wait(60)


if __name__ == "__main__":
    main()
