"""Per-call latency of each architecture (random weights; latency does not depend on them).

Prints one JSON object per (backend, architecture, batch size) for the full-window call:

    {"bench": "model_call", "arch": "hybrid", "size": "default", "backend": "tensorflow",
     "device": "CPU (2 threads, inter-op 1): ...", "batch": 1, "params": 3308418,
     "median_ms": ..., "p99_ms": ..., "min_ms": ..., "mean_ms": ..., "reps": 50,
     "warmup_s": ..., "threads": 2}

and, for the streaming architectures (``stream_*``), one per step size ``K`` for the
step form that the live worker runs (batch 1, ``K`` new frames in, ``K`` out):

    {"bench": "model_step", "arch": "stream_hybrid", "frames": 1, "backend": "jax", ...}

Each call is timed from numpy input to numpy output (what the engine sees), after
``--warmup`` untimed calls. Several ``--backend`` values run one after the other, each
in its own process (Keras picks its backend once per process), so their figures come
from one run on one machine.

Usage:
    .venv/bin/python benchmarks/model.py                       # TensorFlow and JAX, all archs
    .venv/bin/python benchmarks/model.py --arch hybrid stream_hybrid --batch 1 --backend tensorflow jax
    .venv/bin/python benchmarks/model.py --arch stream_hybrid --frames 1 4 --backend jax
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtsep.nn.config import ARCHS  # noqa: E402  (no Keras import)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", nargs="+", default=list(ARCHS), choices=ARCHS,
                   help="architectures (default: all)")
    p.add_argument("--size", default="default", choices=["default", "tiny"], help="preset size")
    p.add_argument("--batch", nargs="+", type=int, default=[1, 4],
                   help="batch sizes of the full-window call (default 1 4)")
    p.add_argument("--frames", nargs="+", type=int, default=[1],
                   help="frames per step of the streaming archs (default 1)")
    p.add_argument("--reps", type=int, default=50, help="timed calls per case (default 50)")
    p.add_argument("--step-reps", type=int, default=500, help="timed steps per case (default 500)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per operation (TensorFlow intra-op; XLA on JAX; "
                        "default: all CPUs for TensorFlow, 1 for JAX as the live worker)")
    p.add_argument("--inter-op-threads", type=int, default=1, help="TensorFlow inter-op threads (default 1)")
    p.add_argument("--backend", nargs="+", choices=["tensorflow", "jax"], default=None,
                   help="Keras backends, each in its own process (default: tensorflow jax, "
                        "or $KERAS_BACKEND when set)")
    args = p.parse_args(argv)
    if (args.reps < 1 or args.step_reps < 1 or args.warmup < 0 or any(b < 1 for b in args.batch)
            or any(k < 1 for k in args.frames)):
        p.error("--reps, --step-reps, --batch and --frames must be >= 1, --warmup >= 0")
    return args


def _timed(fn, reps: int):
    import numpy as np

    times = np.empty(reps)
    for i in range(reps):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {"median_ms": round(float(np.median(ms)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "min_ms": round(float(ms.min()), 3), "mean_ms": round(float(ms.mean()), 3)}


def run_backend(args) -> int:
    """Every case on the backend this process has (``KERAS_BACKEND``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from rtsep.engine import StreamConfig
    from rtsep.nn import ModelConfig, build_model
    from rtsep.runtime.compiled import ModelRuntime, available_cpus, configure_tensorflow_threads
    from rtsep.runtime.stream import StreamRuntime

    backend = keras.backend.backend()
    if backend == "tensorflow":
        intra, _ = configure_tensorflow_threads(args.threads, args.inter_op_threads)
        threads = intra if intra > 0 else available_cpus()
    else:
        threads = args.threads or 1
    rng = np.random.default_rng(0)
    for arch in args.arch:
        config = ModelConfig.preset(arch, args.size)
        keras.utils.set_random_seed(0)
        model = build_model(config)
        for batch in args.batch:
            rt = ModelRuntime(model, config, batch_size=batch, warmup_calls=args.warmup)
            x = rng.uniform(0.0, 50.0, (batch, 1024, 192, 2)).astype(np.float32)
            print(json.dumps({
                "bench": "model_call", "arch": arch, "size": args.size, "backend": backend,
                "device": rt.device, "batch": batch, "params": rt.params,
                **_timed(lambda: rt(x), args.reps),
                "reps": args.reps, "warmup_s": round(rt.warmup_s, 3), "threads": threads,
            }), flush=True)
            del rt
        if not arch.startswith("stream_"):
            continue
        srt = StreamRuntime(model, config, frames=args.frames[0], warmup_calls=args.warmup)
        for k in args.frames:
            srt.bind(StreamConfig(model_hop_frames=k))
            x = rng.uniform(0.0, 50.0, (1, 1024, k, 2)).astype(np.float32)
            print(json.dumps({
                "bench": "model_step", "arch": arch, "size": args.size, "backend": backend,
                "device": srt.device, "frames": k, "params": srt.params,
                **_timed(lambda: srt.step(x), args.step_reps),
                "reps": args.step_reps, "warmup_s": round(srt.warmup_s, 3), "threads": threads,
            }), flush=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    backends = args.backend or ([os.environ["KERAS_BACKEND"]] if os.environ.get("KERAS_BACKEND")
                                else ["tensorflow", "jax"])
    if len(backends) == 1 and os.environ.get("KERAS_BACKEND", backends[0]) == backends[0]:
        os.environ["KERAS_BACKEND"] = backends[0]  # before the first keras import
        if backends[0] == "jax":
            from rtsep.runtime.stream import jax_environment

            os.environ.update(jax_environment(args.threads or 1))
        return run_backend(args)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--backend" in argv:  # drop the list; each child gets one
        i = argv.index("--backend")
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        del argv[i:j]
    rc = 0
    for b in backends:
        env = dict(os.environ, KERAS_BACKEND=b)
        rc |= subprocess.run([sys.executable, __file__, *argv, "--backend", b], env=env).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
