"""Does the terminal mixer disturb the audio? ``rtsep live`` with and without ``--ui``.

Starts a private dummy-backend JACK server (realtime with ``--realtime``), then runs
``rtsep live`` on it twice for ``--seconds`` each, alternating: plain, and with
``--ui`` in a pseudo-terminal whose screen is read (and a key pressed every second,
so that it redraws as a user makes it). A player client of this process loops the
bundled test mix into the inputs. Prints one JSON line per run::

    {"bench": "ui", "ui": true, "seconds": 120, "xruns": 0, "underruns": 0,
     "worker_ms_p50": ..., "worker_ms_p99": ..., "model": "default", "period": 256}

Usage::

    python benchmarks/ui.py --seconds 120 --realtime
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from soak import DEFAULT_PLAY, _signal  # noqa: E402  (the soak's looping player input)


def run_once(args, server: str, ui: bool) -> dict:
    from rtsep.live.probe import LoopPlayer

    stats = Path(tempfile.mkdtemp()) / "stats.json"
    cmd = [sys.executable, "-m", "rtsep", "live", "--server", server, "--name", "rtsep-ui-bench",
           "--model", args.model, "--json-stats", str(stats), "--duration", str(args.seconds),
           "--no-reconnect"]
    master = None
    if ui:
        master, slave = pty.openpty()
        p = subprocess.Popen(cmd + ["--ui"], stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
    else:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not stats.exists():
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            raise SystemExit("rtsep live did not start")
        _drain(master, 0.2)
    player = LoopPlayer(_signal(args.play), ["rtsep-ui-bench:in_L", "rtsep-ui-bench:in_R"],
                        servername=server)
    keys = ["2", "\x1b[B", "\x1b[A", "1"]
    i = 0
    try:
        while p.poll() is None:
            _drain(master, 1.0)
            if master is not None:
                os.write(master, keys[i % len(keys)].encode())
                i += 1
    finally:
        player.close()
        if master is not None:
            _drain(master, 0.5)
            os.close(master)
    p.wait(30)
    s = json.loads(stats.read_text())
    return {"bench": "ui", "ui": ui, "seconds": args.seconds, "xruns": s["xruns"],
            "underruns": s["underruns"], "worker_ms_p50": round(s["worker_ms_p50"], 2),
            "worker_ms_p99": round(s["worker_ms_p99"], 2), "latency_samples": s["latency_samples"],
            "model": args.model, "period": args.period, "realtime": args.realtime}


def _drain(fd, seconds: float) -> None:
    """Read (and drop) the screen for ``seconds`` (just sleep without a terminal)."""
    if fd is None:
        time.sleep(seconds)
        return
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--model", default="default")
    ap.add_argument("--period", type=int, default=256)
    ap.add_argument("--realtime", action="store_true", help="jackd -R")
    ap.add_argument("--play", default=str(DEFAULT_PLAY))
    args = ap.parse_args(argv)
    from rtsep.live.jack.server import DummyServer

    name = f"rtsep-uibench-{os.getpid()}"
    with DummyServer(name, period=args.period, realtime=args.realtime):
        for ui in (False, True):
            print(json.dumps(run_once(args, name, ui)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
