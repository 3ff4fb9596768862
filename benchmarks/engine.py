"""Per-hop DSP cost of the streaming engine, without the model.

One hop = 2-channel STFT of a new frame, masks applied for 4 stems, 8 inverse FFTs,
overlap-add, and the copy of a hop in and out of the engine. Prints one JSON object
per line:

    {"bench": "engine_hop", "median_us": ..., "p99_us": ..., "alloc_bytes_per_hop": ...,
     "peak_transient_bytes_per_hop": ..., "hops": ..., "budget_fraction": ...}

``alloc_bytes_per_hop`` is the memory retained per hop in steady state (tracemalloc,
over many hops); ``peak_transient_bytes_per_hop`` the largest short-lived allocation of
any single hop (Python ints; no arrays are allocated). ``budget_fraction`` is the median
over the 23,220 us that a hop of audio lasts.

Usage: python benchmarks/engine.py [--hops 3000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np

from rtsep.constants import HOP, N_BINS, SAMPLE_RATE
from rtsep.engine import StreamingSeparator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hops", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    eng = StreamingSeparator(lambda mag: None)  # the model is never called here
    masks = rng.dirichlet(np.ones(4), size=(2, N_BINS)).transpose(2, 0, 1).astype(np.float32)
    blocks = rng.uniform(-1, 1, (8, HOP, 2)).astype(np.float32)
    out = np.empty((5, HOP, 2), np.float32)

    def hop(i: int) -> None:
        eng.hop_without_model(blocks[i & 7], out)

    eng.hop_without_model(blocks[0], out, masks)
    for i in range(args.warmup):
        hop(i)
    times = np.empty(args.hops)
    for i in range(args.hops):
        t0 = time.perf_counter_ns()
        hop(i)
        times[i] = (time.perf_counter_ns() - t0) / 1000.0

    tracemalloc.start()
    worst = 0
    for i in range(100):
        tracemalloc.reset_peak()
        cur = tracemalloc.get_traced_memory()[0]
        hop(i)
        worst = max(worst, tracemalloc.get_traced_memory()[1] - cur)
    n_alloc = 1000

    def retained_by(fn) -> int:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(n_alloc):
            fn(i)
        return tracemalloc.get_traced_memory()[0] - base

    # The loop itself (its int counter) retains a few bytes: measure and subtract it.
    retained = (retained_by(hop) - retained_by(lambda i: None)) / n_alloc
    tracemalloc.stop()

    hop_us = HOP / SAMPLE_RATE * 1e6
    print(json.dumps({
        "bench": "engine_hop",
        "median_us": round(float(np.median(times)), 1),
        "p99_us": round(float(np.percentile(times, 99)), 1),
        "alloc_bytes_per_hop": max(0.0, round(retained, 2)),
        "peak_transient_bytes_per_hop": int(worst),
        "hops": args.hops,
        "budget_fraction": round(float(np.median(times)) / hop_us, 4),
    }))


if __name__ == "__main__":
    main()
