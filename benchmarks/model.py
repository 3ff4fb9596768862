"""Per-call latency of each architecture (random weights; latency does not depend on them).

Prints one JSON object per (backend, architecture, batch size) for the full-window call:

    {"bench": "model_call", "arch": "hybrid", "size": "default", "backend": "tensorflow",
     "device": "CPU (2 threads, inter-op 1): ...", "batch": 1, "params": 3308418,
     "median_ms": ..., "p99_ms": ..., "min_ms": ..., "mean_ms": ..., "reps": 50,
     "warmup_s": ..., "threads": 2}

and, for the streaming architectures (``stream_*``), one per step size ``K`` for the
step form that the live worker runs (batch 1, ``K`` new frames in, ``K`` out), through
Keras's backends and through runtimes given a form converted from TensorFlow's step
(``litert``, ``onnxruntime``, ``openvino``: checked against it, ``max_rel_diff``; no
window call):

    {"bench": "model_step", "arch": "stream_hybrid", "frames": 1, "backend": "jax", ...}

Each call is timed from numpy input to numpy output (what the engine sees), after
``--warmup`` untimed calls. Several ``--backend`` values run one after the other, each
in its own process (Keras picks its backend once per process), so their figures come
from one run on one machine.

Usage:
    .venv/bin/python benchmarks/model.py                       # TensorFlow and JAX, all archs
    .venv/bin/python benchmarks/model.py --arch hybrid stream_hybrid --batch 1 --backend tensorflow jax
    .venv/bin/python benchmarks/model.py --arch stream_hybrid --frames 1 4 --backend jax
    .venv/bin/python benchmarks/model.py --arch stream_hybrid --batch 1 \
        --backend tensorflow jax litert onnxruntime openvino   # the step's runtimes
    .venv/bin/python benchmarks/model.py --arch hybrid stream_hybrid --batch 1 --rtprio 1
        # at the live worker's priority on a realtime server (SCHED_FIFO 1; needs the rights)
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
    p.add_argument("--rtprio", type=int, default=0,
                   help="run each backend's process at SCHED_FIFO priority N, as the live worker "
                        "runs on a realtime JACK server (default 0: normal priority)")
    p.add_argument("--backend", nargs="+",
                   choices=["tensorflow", "jax", "litert", "onnxruntime", "openvino"],
                   default=None,
                   help="Keras backends, each in its own process (default: tensorflow jax, "
                        "or $KERAS_BACKEND when set); litert, onnxruntime and openvino time the "
                        "streaming step converted from TensorFlow's (pip install "
                        "'.[runtimes]')")
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
                "rtprio": args.rtprio,
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
                "rtprio": args.rtprio,
            }), flush=True)
    return 0


CONVERTED = ("litert", "onnxruntime", "openvino")
"""Runtimes that run a form converted from the TensorFlow step (the Keras model stays the
source of truth): LiteRT (XNNPACK), ONNX Runtime (CPU execution provider), OpenVINO
(CPU plugin, reading the ONNX form)."""


def _onnx_step(fn):
    """The TensorFlow step as an ONNX model (tf2onnx, opset 17), with the two ops tf2onnx
    leaves unconverted rewritten: ``Log1p`` as ``Log(x + 1)`` and XLA's dynamic
    update slice (the state rings' write) as ``ScatterND`` at the start indices plus a
    constant grid of the update's (static) shape."""
    import numpy as np
    import tf2onnx
    from onnx import TensorProto, helper, numpy_helper

    proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=17)
    update_shape = {op.name: op.inputs[1].shape.as_list()
                    for op in fn.get_concrete_function().graph.get_operations()
                    if op.type == "XlaDynamicUpdateSlice"}
    graph, nodes = proto.graph, []
    for n in graph.node:
        if n.op_type == "Log1p":
            graph.initializer.append(numpy_helper.from_array(np.float32(1.0), f"{n.name}_one"))
            nodes += [helper.make_node("Add", [n.input[0], f"{n.name}_one"], [f"{n.name}_p1"]),
                      helper.make_node("Log", [f"{n.name}_p1"], list(n.output))]
        elif n.op_type == "XlaDynamicUpdateSlice":
            data, update, starts = n.input
            shape = update_shape[n.name]
            grid = np.stack(np.meshgrid(*[np.arange(d) for d in shape], indexing="ij"), -1)
            graph.initializer.append(numpy_helper.from_array(grid.astype(np.int64),
                                                             f"{n.name}_grid"))
            nodes += [helper.make_node("Cast", [starts], [f"{n.name}_s64"], to=TensorProto.INT64),
                      helper.make_node("Add", [f"{n.name}_grid", f"{n.name}_s64"],
                                       [f"{n.name}_idx"]),
                      helper.make_node("ScatterND", [data, f"{n.name}_idx", update],
                                       list(n.output))]
        else:
            nodes.append(n)
    del graph.node[:]
    graph.node.extend(nodes)
    return proto


def _converted_step(kind: str, net, k: int, threads: int):
    """The streaming step for ``k`` frames converted for ``kind``; returns
    ``(run(x, states) -> (est, states), initial states, tf_step)``.

    ``tf_step`` is the TensorFlow step it came from (the check: both give the same
    estimates over a stream)."""
    import numpy as np
    import tensorflow as tf

    from rtsep.runtime.stream import tf_step_function

    fn, initial = tf_step_function(net, k)
    names = [s.name for s in fn.input_signature]
    if kind == "litert":
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2)

        # weights frozen into constants: LiteRT leaves resource variables uninitialised
        frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
        flat = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            Interpreter = tf.lite.Interpreter
        interp = Interpreter(model_content=flat, num_threads=threads)
        interp.allocate_tensors()
        in_index = {d["name"]: d["index"] for d in interp.get_input_details()}
        out_index = {d["name"]: d["index"] for d in interp.get_output_details()}
        keys = sorted(fn.get_concrete_function().structured_outputs)  # tf.nest's dict order
        out = [out_index[t.name.split(":")[0]] for t in frozen.outputs]
        est_i = out[keys.index("est")]
        new_i = [out[keys.index(f"new{i}")] for i in range(len(initial))]

        def run(x, states):
            for name, value in zip(names, (x, *states)):
                interp.set_tensor(in_index[name], value)
            interp.invoke()
            return interp.get_tensor(est_i), tuple(interp.get_tensor(i) for i in new_i)
    elif kind == "openvino":
        import openvino as ov

        core = ov.Core()
        model = core.read_model(_onnx_step(fn).SerializeToString())
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                     "PERFORMANCE_HINT": "LATENCY",
                                                     "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        outs = [compiled.output("est")] + [compiled.output(f"new{i}") for i in range(len(initial))]

        def run(x, states):
            res = request.infer(dict(zip(names, (x, *states))))
            return res[outs[0]].copy(), tuple(res[o].copy() for o in outs[1:])
    else:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(_onnx_step(fn).SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
        in_names = [i.name for i in sess.get_inputs()]
        wanted = ["est"] + [f"new{i}" for i in range(len(initial))]

        def run(x, states):
            out = sess.run(wanted, dict(zip(in_names, (x, *states))))
            return out[0], tuple(out[1:])

    def tf_step(x, states):
        out = fn(x, *states)
        return out["est"].numpy(), tuple(out[f"new{i}"].numpy() for i in range(len(states)))

    return run, tuple(np.asarray(a) for a in initial), tf_step


def run_converted(args, kind: str) -> int:
    """``model_step`` rows for a converted runtime, after checking it against the
    TensorFlow step over ``--check-steps`` steps (largest difference relative to the
    estimates' scale, reported as ``max_rel_diff``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from rtsep.nn import ModelConfig, build_model
    from rtsep.nn.stream import stream_core
    from rtsep.runtime.compiled import _cpu_name

    threads = args.threads or 1
    rng = np.random.default_rng(0)
    for arch in args.arch:
        if not arch.startswith("stream_"):
            continue
        config = ModelConfig.preset(arch, args.size)
        keras.utils.set_random_seed(0)
        net = stream_core(build_model(config))
        for k in args.frames:
            t0 = time.perf_counter()
            run, initial, tf_step = _converted_step(kind, net, k, threads)
            convert_s = time.perf_counter() - t0
            st_a, st_b, worst, scale = initial, initial, 0.0, 0.0
            for _ in range(20):
                x = rng.uniform(0.0, 50.0, (1, 1024, k, 2)).astype(np.float32)
                ea, st_a = run(x, st_a)
                eb, st_b = tf_step(x, st_b)
                d = float(np.abs(np.asarray(ea) - eb).max())
                worst = max(worst, d if np.isfinite(d) else float("inf"))  # NaN fails
                scale = max(scale, float(np.abs(eb).max()))
            x = rng.uniform(0.0, 50.0, (1, 1024, k, 2)).astype(np.float32)
            state = [initial]
            for _ in range(args.warmup):
                state[0] = run(x, state[0])[1]

            def one():
                state[0] = run(x, state[0])[1]

            print(json.dumps({
                "bench": "model_step", "arch": arch, "size": args.size, "backend": kind,
                "device": f"CPU ({kind}, {threads} thread(s)): {_cpu_name()}", "frames": k,
                **_timed(one, args.step_reps), "reps": args.step_reps,
                "convert_s": round(convert_s, 1), "threads": threads, "rtprio": args.rtprio,
                "max_abs_diff": worst, "est_max": scale,
                "max_rel_diff": worst / max(scale, 1e-12),
                "check_ok": worst <= 1e-4 * max(scale, 1e-12),  # the step-test tolerance
            }), flush=True)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    backends = args.backend or ([os.environ["KERAS_BACKEND"]] if os.environ.get("KERAS_BACKEND")
                                else ["tensorflow", "jax"])
    if len(backends) == 1 and args.rtprio:  # before any runtime starts its threads
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.rtprio))
    if len(backends) == 1 and backends[0] in CONVERTED:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        return run_converted(args, backends[0])
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
        env = dict(os.environ, KERAS_BACKEND="tensorflow" if b in CONVERTED else b)
        rc |= subprocess.run([sys.executable, __file__, *argv, "--backend", b], env=env).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
