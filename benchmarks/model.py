"""Per-call latency of each architecture (random weights; latency does not depend on them).

Prints one JSON object per (architecture, batch size):

    {"bench": "model_call", "arch": "hybrid", "size": "default", "backend": "tensorflow",
     "device": "CPU (2 threads, inter-op 1): ...", "batch": 1, "params": 3308418,
     "median_ms": ..., "p99_ms": ..., "min_ms": ..., "mean_ms": ..., "reps": 50,
     "warmup_s": ..., "threads": 2}

Each call is timed from numpy input to numpy output (what the engine sees), after
``--warmup`` untimed calls.

Usage:
    .venv/bin/python benchmarks/model.py                       # TensorFlow, CPU, all archs
    .venv/bin/python benchmarks/model.py --arch hybrid --batch 1 --reps 100 --threads 2
    .venv/bin/python benchmarks/model.py --backend jax         # JAX (a GPU when there is one)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", nargs="+", default=["unet", "hybrid"], help="architectures (default: all)")
    p.add_argument("--size", default="default", choices=["default", "tiny"], help="preset size")
    p.add_argument("--batch", nargs="+", type=int, default=[1, 4], help="batch sizes (default 1 4)")
    p.add_argument("--reps", type=int, default=50, help="timed calls per case (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow CPU intra-op threads (default: all CPUs of the process)")
    p.add_argument("--inter-op-threads", type=int, default=1, help="TensorFlow inter-op threads (default 1)")
    p.add_argument("--backend", choices=["tensorflow", "jax"], default=None,
                   help="Keras backend (default: $KERAS_BACKEND or tensorflow)")
    args = p.parse_args(argv)
    if args.reps < 1 or args.warmup < 0 or any(b < 1 for b in args.batch):
        p.error("--reps and --batch must be >= 1, --warmup >= 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend  # must precede the first keras import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np

    from rtsep.nn import ModelConfig, build_model
    from rtsep.runtime.compiled import ModelRuntime, available_cpus, configure_tensorflow_threads

    backend = keras.backend.backend()
    threads = None
    if backend == "tensorflow":
        intra, _ = configure_tensorflow_threads(args.threads, args.inter_op_threads)
        threads = intra if intra > 0 else available_cpus()
    rng = np.random.default_rng(0)
    for arch in args.arch:
        config = ModelConfig.preset(arch, args.size)
        keras.utils.set_random_seed(0)
        model = build_model(config)
        for batch in args.batch:
            rt = ModelRuntime(model, config, batch_size=batch, warmup_calls=args.warmup)
            x = rng.uniform(0.0, 50.0, (batch, 1024, 192, 2)).astype(np.float32)
            times = np.empty(args.reps)
            for i in range(args.reps):
                t0 = time.perf_counter()
                rt(x)
                times[i] = time.perf_counter() - t0
            ms = times * 1e3
            print(json.dumps({
                "bench": "model_call", "arch": arch, "size": args.size, "backend": backend,
                "device": rt.device, "batch": batch, "params": rt.params,
                "median_ms": round(float(np.median(ms)), 3),
                "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "min_ms": round(float(ms.min()), 3), "mean_ms": round(float(ms.mean()), 3),
                "reps": args.reps, "warmup_s": round(rt.warmup_s, 3), "threads": threads,
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
