"""Soak test of the live client: run it for minutes and count what went wrong.

Runs :class:`rtsep.live.client.LiveSeparator` against a JACK server (yours, or a private
dummy one with ``--start-server``), feeds it a looping song (``--play``, default
the bundled test mix) from a player client in this process (its process callback,
like rtsep's, is native code that needs no GIL; ``player_underruns`` counts the
cycles it had nothing to play) or the server's capture ports (``--play system``),
and prints JSON lines: one per minute (progress) and a final one::

    {"bench": "soak", "minutes": ..., "period": ..., "worker": ..., "model": ...,
     "xruns": ..., "underruns": ..., "worker_ms_p50": ..., "worker_ms_p99": ...,
     "load_avg": ..., "jack_dsp_load_mean": ..., "jack_dsp_load_max": ...,
     "cpu_client_pct": ..., "cpu_worker_pct": ..., "callback_max_us": ...,
     "latency_samples": ..., "latency_ms": ..., ...}

``xruns`` are the server's (any client can cause them); ``callback_max_us`` and
``callback_slow`` (cycles whose callback ended after half the period) are ours.
CPU figures are percent of one core over the run (``/proc``).

Usage::

    python benchmarks/soak.py --minutes 10                       # your server, default model
    python benchmarks/soak.py --minutes 10 --start-server --realtime --period 256
    python benchmarks/soak.py --minutes 1 --start-server --test-model random:unet \\
        --model-hop auto --compare-workers                       # thread vs process
    python benchmarks/soak.py --minutes 10 --start-server --realtime --period 256 \\
        --model-hop auto --background 0 1 2                      # 0, 1, 2 busy cores beside it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from rtsep.constants import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PLAY = ROOT.parent / "shared" / "data" / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _signal(play: str, seconds: float = 30.0) -> np.ndarray | None:
    if play == "system":
        return None
    if play == "noise":
        rng = np.random.default_rng(0)
        return (0.1 * rng.standard_normal((int(seconds * SAMPLE_RATE), 2))).astype(np.float32)
    from rtsep.io.audio import read_audio

    x, _ = read_audio(play)
    return x


def soak(args, worker: str) -> dict:
    from rtsep.live.client import LiveSeparator
    from rtsep.live.probe import LoopPlayer
    from rtsep.runtime.stand_ins import parse_test_model

    model = parse_test_model(args.test_model) if args.test_model else args.model
    hop = args.model_hop if args.model_hop == "auto" else int(args.model_hop)
    sep = LiveSeparator(model, client_name=args.name, servername=args.server, worker=worker,
                        model_hop=hop, lookahead=args.lookahead,
                        reserve_periods=args.reserve_periods, worker_nice=args.worker_nice,
                        worker_rtprio=args.worker_rtprio, threads=args.threads)
    sep.start()
    player = None
    try:
        ins = [f"{sep.client.name}:in_L", f"{sep.client.name}:in_R"]
        sig = _signal(args.play)
        if sig is None:
            sep.connect(inputs=["system:capture_1", "system:capture_2"])
        else:
            player = LoopPlayer(sig, ins, servername=args.server, name=f"{args.name}-player")
        pids = {"client": os.getpid(), "worker": sep.worker_pid}
        tick = os.sysconf("SC_CLK_TCK")
        cpu0 = {k: _cpu_ticks(p) for k, p in pids.items()}
        t0 = time.monotonic()
        base = sep.stats()  # counts before the measured run (activation, connections)
        loads = []
        minute = 0
        end = t0 + 60.0 * args.minutes
        reason = None
        while time.monotonic() < end:
            r = sep.wait(timeout=min(1.0, end - time.monotonic()))
            if r != "timeout":
                reason = r
                break
            loads.append(sep.client.cpu_load())
            if time.monotonic() - t0 >= 60.0 * (minute + 1):
                minute += 1
                s = sep.stats()
                print(json.dumps({"bench": "soak_progress", "worker": worker, "minute": minute,
                                  "xruns": s["xruns"] - base["xruns"],
                                  "underruns": s["underruns"] - base["underruns"],
                                  "worker_ms_p99": round(s["worker_ms_p99"], 3)}), flush=True)
        wall = time.monotonic() - t0
        s = sep.stats()
        cpu = {k: 100.0 * (_cpu_ticks(p) - cpu0[k]) / tick / wall for k, p in pids.items()}
        plan = sep.plan
        return {
            "bench": "soak", "minutes": round(wall / 60.0, 3), "period": s["period"],
            "worker": worker, "model": args.test_model or args.model,
            "model_hop": s["model_hop"], "lookahead": args.lookahead,
            "xruns": s["xruns"] - base["xruns"], "underruns": s["underruns"] - base["underruns"],
            "missing_frames": s["missing_frames"] - base["missing_frames"],
            "xruns_at_start": base["xruns"], "underruns_at_start": base["underruns"],
            "worker_ms_p50": round(s["worker_ms_p50"], 3),
            "worker_ms_p99": round(s["worker_ms_p99"], 3),
            "load_avg": round(s["load_avg"], 4),
            "jack_dsp_load_mean": round(float(np.mean(loads)), 2) if loads else None,
            "jack_dsp_load_max": round(float(np.max(loads)), 2) if loads else None,
            "cpu_client_pct": round(cpu["client"], 1),
            "cpu_worker_pct": round(cpu["worker"], 1) if worker == "process" else None,
            "callback_max_us": round(s["callback_max_us"], 1),
            "callback_slow": s["callback_slow"] - base["callback_slow"],
            "latency_samples": s["latency_samples"], "latency_ms": round(s["latency_ms"], 2),
            "reserve_periods": s["reserve_periods"], "model_call_ms": round(plan.model_ms, 2),
            "skipped_frames": s["skipped_frames"], "stopped_by": reason or "time",
            "player_underruns": player.underruns if player is not None else None,
            "worker_nice": args.worker_nice if worker == "process" else 0,
            "worker_rtprio": args.worker_rtprio if worker == "process" else 0,
            "threads": args.threads,
            "notes": plan.notes,
        }
    finally:
        if player is not None:
            player.close()
        sep.stop()


class CpuHogs:
    """``n`` processes that keep a core busy each (what a karaoke laptop's other
    programs do): ``stress-ng --cpu n`` when installed, else Python busy loops."""

    def __init__(self, n: int):
        import shutil

        self.n = max(0, int(n))
        self.kind = None if not self.n else ("stress-ng" if shutil.which("stress-ng") else "python")
        self._procs = []

    def start(self) -> None:
        import subprocess

        if self.kind == "stress-ng":
            self._procs = [subprocess.Popen(["stress-ng", "--cpu", str(self.n), "--quiet"])]
        elif self.kind == "python":
            self._procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                           for _ in range(self.n)]

    def stop(self) -> None:
        for p in self._procs:
            p.terminate()
        for p in self._procs:
            p.wait(timeout=10)
        self._procs = []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", default="default", help="model name or path (default: default)")
    ap.add_argument("--test-model", default=None,
                    help="route:STEM or random:ARCH[:SIZE] (untrained, for timing) instead of --model")
    ap.add_argument("--model-hop", default="1", help="K frames or 'auto'")
    ap.add_argument("--lookahead", type=int, default=0)
    ap.add_argument("--reserve-periods", type=int, default=None)
    ap.add_argument("--worker", choices=("process", "thread"), default=None)
    ap.add_argument("--worker-nice", type=int, default=0,
                    help="nice value of the worker process (0: unchanged) [default: 0]")
    ap.add_argument("--worker-rtprio", type=int, default=0,
                    help="SCHED_FIFO priority of the worker process, below JACK's (0: none)")
    ap.add_argument("--threads", type=int, default=None,
                    help="TensorFlow intra-op threads of the model (default: all CPUs but one)")
    ap.add_argument("--compare-workers", action="store_true", help="run thread, then process")
    ap.add_argument("--play", default=str(DEFAULT_PLAY),
                    help="audio file to loop into the client, 'noise', or 'system' (capture ports)")
    ap.add_argument("--name", default="rtsep-soak")
    ap.add_argument("--server", default=None, help="JACK server name (default: the default server)")
    ap.add_argument("--start-server", action="store_true",
                    help="start a private dummy-backend server for the run")
    ap.add_argument("--realtime", action="store_true", help="with --start-server: jackd -R")
    ap.add_argument("--period", type=int, default=256, help="with --start-server: jackd -p")
    ap.add_argument("--background", "--cpu-hogs", type=int, nargs="+", default=[0], metavar="N",
                    help="keep N cores busy during the run, at normal priority (stress-ng --cpu N, "
                         "installed by bootstrap.sh; else N Python busy loops); several values: one "
                         "soak per value, in order [default: 0]")
    args = ap.parse_args(argv)
    from rtsep.errors import RtsepError
    from rtsep.live.client import DEFAULT_WORKER

    workers = ["thread", "process"] if args.compare_workers else [args.worker or DEFAULT_WORKER]
    srv = None
    try:
        if args.start_server:
            from rtsep.live.jack.server import DummyServer

            args.server = f"rtsep-soak-{os.getpid()}"
            srv = DummyServer(args.server, period=args.period, realtime=args.realtime).start()
        for n in args.background:
            hogs = CpuHogs(n)
            hogs.start()
            try:
                for w in workers:
                    print(json.dumps({**soak(args, w), "background": n, "hog": hogs.kind}),
                          flush=True)
            finally:
                hogs.stop()
    except RtsepError as exc:
        print(f"soak: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if srv is not None:
            srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
