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
CPU figures are percent of one core over the run (``/proc``). ``worker_sched`` is the
worker process's scheduling policy as the kernel reports it (``fifo:1``, ``other``).
``steal_pct``, ``steal_seconds``, ``xrun_seconds`` and ``xrun_seconds_with_steal``
(:class:`StealWatch`) say whether the xruns fell in the seconds in which a hypervisor
took CPU time from this machine.

Usage::

    python benchmarks/soak.py --minutes 10                       # your server, default model
    python benchmarks/soak.py --minutes 10 --start-server --realtime --period 256
    python benchmarks/soak.py --minutes 1 --start-server --test-model random:unet \\
        --model-hop auto --compare-workers                       # thread vs process
    python benchmarks/soak.py --minutes 10 --start-server --realtime --period 256 \\
        --model-hop auto --background 0 1 2                      # 0, 1, 2 busy cores beside it
    python benchmarks/soak.py --minutes 10 --start-server --realtime --period 256 \\
        --model-hop auto --background 1 --baseline               # first 10 min without rtsep

With ``--baseline`` each soak is preceded by one of the same length without rtsep
(``{"bench": "soak_baseline", "xruns": ..., "player_callback_max_us": ...}``): the
player alone, an xrun counter, the same server and busy cores. Xruns it counts are not
rtsep's doing.
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


class StealWatch:
    """Which seconds of a run the hypervisor took CPU time from this machine (``steal``
    in ``/proc/stat``; 0 outside a VM), and whether the xruns fell in those seconds.
    Call :meth:`tick` about once a second with the xrun count so far."""

    def __init__(self, xruns: int = 0):
        self.tick_s = 1.0 / os.sysconf("SC_CLK_TCK")
        self.seconds = self.steal_seconds = self.xrun_seconds = self.both = 0
        self.steal_total = 0
        self._steal, self._xruns = self._read(), xruns

    @staticmethod
    def _read() -> int:
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()
            return int(fields[8]) if fields[0] == "cpu" and len(fields) > 8 else 0
        except OSError:
            return 0

    def tick(self, xruns: int) -> None:
        steal = self._read()
        ds, dx = steal - self._steal, xruns - self._xruns
        self._steal, self._xruns = steal, xruns
        self.seconds += 1
        self.steal_total += ds
        self.steal_seconds += ds > 0
        self.xrun_seconds += dx > 0
        self.both += ds > 0 and dx > 0

    def summary(self, wall: float) -> dict:
        """``steal_pct``: stolen time, percent of all CPUs' time; ``xrun_seconds``: the
        seconds with an xrun, ``xrun_seconds_with_steal`` of them with stolen time,
        ``steal_seconds`` all seconds with stolen time (of ``seconds``)."""
        ncpu = os.cpu_count() or 1
        return {"steal_pct": round(100.0 * self.steal_total * self.tick_s / (wall * ncpu), 3),
                "seconds": self.seconds, "steal_seconds": self.steal_seconds,
                "xrun_seconds": self.xrun_seconds, "xrun_seconds_with_steal": self.both}


def _sched(pid: int) -> str:
    """The scheduling policy and priority a process runs at, e.g. ``"fifo:1"``, ``"other"``."""
    try:
        policy = os.sched_getscheduler(pid)
        prio = os.sched_getparam(pid).sched_priority
    except OSError:
        return "unknown"
    name = {os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr"}.get(policy, "other")
    return f"{name}:{prio}" if name != "other" else name


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
        steal = StealWatch(base["xruns"])
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
            steal.tick(sep.stats()["xruns"])
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
        sched = _sched(sep.worker_pid) if worker == "process" else None
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
            "worker_rtprio": args.worker_rtprio,
            "worker_sched": sched,
            "threads": args.threads,
            "notes": plan.notes, **steal.summary(wall),
        }
    finally:
        if player is not None:
            player.close()
        sep.stop()


def baseline(args) -> dict:
    """The same server, player and busy cores without rtsep: the xruns the machine makes
    by itself. The player (native callback) plays into the server's playback ports and a
    second client, with no process callback, counts the server's xruns."""
    from rtsep.live.jack.server import open_client
    from rtsep.live.probe import LoopPlayer

    sig = _signal(args.play if args.play != "system" else "noise")
    counter = open_client(f"{args.name}-xruns", args.server)
    xruns = [0]

    def xrun(delayed_usecs):
        xruns[0] += 1

    counter.set_xrun_callback(xrun)
    counter.activate()
    player = None
    try:
        player = LoopPlayer(sig, ["system:playback_1", "system:playback_2"],
                            servername=args.server, name=f"{args.name}-player")
        base, t0 = xruns[0], time.monotonic()
        steal = StealWatch(base)
        minute, loads = 0, []
        end = t0 + 60.0 * args.minutes
        while time.monotonic() < end:
            time.sleep(min(1.0, max(end - time.monotonic(), 0.0)))
            loads.append(counter.cpu_load())
            steal.tick(xruns[0])
            if time.monotonic() - t0 >= 60.0 * (minute + 1):
                minute += 1
                print(json.dumps({"bench": "soak_baseline_progress", "minute": minute,
                                  "xruns": xruns[0] - base}), flush=True)
        wall = time.monotonic() - t0
        rate = counter.samplerate
        return {
            "bench": "soak_baseline", "minutes": round(wall / 60.0, 3),
            "period": counter.blocksize, "xruns": xruns[0] - base,
            "player_underruns": player.underruns,
            "player_callback_max_us": round(1e6 * player.callback_max_frames / rate, 1),
            "jack_dsp_load_mean": round(float(np.mean(loads)), 2) if loads else None,
            "jack_dsp_load_max": round(float(np.max(loads)), 2) if loads else None,
            **steal.summary(wall),
        }
    finally:
        if player is not None:
            player.close()
        counter.deactivate()
        counter.close()


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
    from rtsep.cli.cmd_live import int_or_auto

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
    ap.add_argument("--worker-rtprio", type=int_or_auto(0), default="auto",
                    help="SCHED_FIFO priority of the worker process, below JACK's (0: none; "
                         "auto: 1 on a realtime server) [default: auto]")
    ap.add_argument("--threads", type=int, default=None,
                    help="TensorFlow intra-op threads of the model (default: all CPUs but one)")
    ap.add_argument("--compare-workers", action="store_true", help="run thread, then process")
    ap.add_argument("--baseline", action="store_true",
                    help="before each soak, the same minutes without rtsep (the player and an "
                         "xrun counter only): the xruns the server and machine make by themselves")
    ap.add_argument("--sync", action="store_true", help="with --start-server: jackd -S")
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
            srv = DummyServer(args.server, period=args.period, realtime=args.realtime,
                              sync=args.sync).start()
        for n in args.background:
            hogs = CpuHogs(n)
            hogs.start()
            try:
                if args.baseline:
                    print(json.dumps({**baseline(args), "background": n, "hog": hogs.kind,
                                      "sync": args.sync}),
                          flush=True)
                for w in workers:
                    print(json.dumps({**soak(args, w), "background": n, "hog": hogs.kind,
                                      "sync": args.sync}),
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
