"""A streaming model's step form, compiled and warmed: ``StreamRuntime.step(mag_new)``.

The ``stream_*`` architectures (:mod:`rtsep.nn.stream`) compute, for the ``K``
newest frames, only what those frames change, and keep the rest (attention keys and
values of the last 192 frames, convolution history) as a state between calls. This
module holds that state and runs the step through one compiled function:

- **JAX** (``KERAS_BACKEND=jax``; what the live worker uses): ``jax.jit`` with the
  state donated (updated in place), synchronous CPU dispatch (the call runs on the
  calling thread: no second thread spins while it waits), XLA's CPU threads as
  :func:`jax_environment` set them. Measured fastest of the runtimes tried (see
  ``benchmarks/model.py`` and the README).
- **TensorFlow** (the default backend of a process that imported it first, such as
  the test suite): ``tf.function`` with a fixed input signature. Same results,
  several times slower per step at ``K`` = 1 (per-operation dispatch), comparable
  at ``K`` = 64 (offline).

Both are the same Keras model and the same weights: nothing is converted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from rtsep.constants import MODEL_BINS, N_CHANNELS
from rtsep.engine.config import StreamConfig
from rtsep.errors import ModelError

JAX_CPU_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
"""XLA flags of a JAX worker on the CPU (``threads`` = 1: a step is too small to share)."""


def jax_environment(threads: int = 1) -> dict[str, str]:
    """Environment variables that make a *new* process run Keras on JAX on the CPU.

    Parameters
    ----------
    threads : int
        XLA CPU threads per operation.

    Returns
    -------
    dict
        ``KERAS_BACKEND``, ``XLA_FLAGS`` (appended to any already set),
        ``JAX_PLATFORMS`` (``cpu`` unless one is set: a GPU-less worker must not probe
        for CUDA) and ``TF_CPP_MIN_LOG_LEVEL``.
    """
    flags = JAX_CPU_FLAGS.format(threads=max(1, int(threads)))
    old = os.environ.get("XLA_FLAGS", "")
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": f"{old} {flags}".strip(),
           "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cache = jax_cache_dir()
    if cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache)
    return env


def jax_cache_dir() -> Path | None:
    """The user's own folder for JAX's persistent compilation cache (a worker that
    starts again reuses the compiled step instead of compiling it for seconds).

    ``$JAX_COMPILATION_CACHE_DIR`` if set (empty: no cache), else
    ``$XDG_CACHE_HOME/rtsep/jax`` (``~/.cache/rtsep/jax``), created private (0700:
    JAX trusts what it finds there). None when it cannot be created.
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        env = os.environ["JAX_COMPILATION_CACHE_DIR"]
        return Path(env) if env else None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "rtsep" / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return path


def tf_step_function(net, k: int):
    """The TensorFlow step of a streaming network for ``k`` frames, with a fixed
    signature: inputs ``x`` (1, 1024, k, 2) and the states ``state0``, ``state1``, ...;
    outputs ``{"est": (1, 4, 1024, k, 2), "new0": ..., ...}`` (the next states; other
    names than the inputs', which ONNX needs). The runtime's TensorFlow path, and the
    form converted for other runtimes (``benchmarks/model.py``).

    Returns
    -------
    fn : tf.types.experimental.PolymorphicFunction
    initial : tuple of np.ndarray
        The states before the first frame.
    """
    import tensorflow as tf

    initial = net.initial_state(1, k)
    specs = [tf.TensorSpec((1, MODEL_BINS, k, N_CHANNELS), tf.float32, name="x")]
    specs += [tf.TensorSpec(np.shape(a), tf.as_dtype(np.asarray(a).dtype), name=f"state{i}")
              for i, a in enumerate(initial)]

    @tf.function(input_signature=specs, jit_compile=False)
    def fn(x, *states):
        est, new = net.step(x, states)
        return {"est": est, **{f"new{i}": v for i, v in enumerate(new)}}

    return fn, initial


def jax_available() -> bool:
    """Whether JAX can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("jax") is not None


class StreamRuntime:
    """The step form of a ``stream_*`` model: ``step(mag_new) -> est_new``.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`rtsep.nn.build_model` for a ``stream_*`` config.
    config : rtsep.nn.ModelConfig
    frames : int
        ``K``: frames per step (the engine's ``model_hop_frames``; :meth:`bind`
        recompiles for another).
    warmup_calls : int
        Steps run (then forgotten) before the runtime is used.
    path : Path, optional
        The artifact folder it came from.
    card_text : str
        The artifact's model card.

    Attributes
    ----------
    streaming : bool
        True: engines call :meth:`step` with the new frames only (not windows).
    frames : int
        ``K`` of the compiled step.
    backend, device : str
        Where it runs.
    warmup_s : float
        Seconds spent compiling and warming.
    """

    streaming = True

    def __init__(self, model, config, *, frames: int = 1, warmup_calls: int = 3,
                 path: Path | None = None, card_text: str = ""):
        import keras

        from rtsep.nn import count_params
        from rtsep.nn.stream import stream_core

        try:
            self.net = stream_core(model)
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        self.model = model
        self.config = config
        self.params = count_params(model)
        self.path = path
        self.card_text = card_text
        self.backend = keras.backend.backend()
        if self.backend not in ("jax", "tensorflow"):
            raise ModelError(f"Keras backend {self.backend!r} is not supported by the rtsep runtime; "
                             "set KERAS_BACKEND=jax or tensorflow")
        self.device = self._device_name()
        self.frames = 0
        self._warmup_calls = int(warmup_calls)
        self.warmup_s = 0.0
        self._compile(int(frames))

    # -- compilation -------------------------------------------------------------------

    def _device_name(self) -> str:
        from rtsep.runtime.compiled import _cpu_name, available_cpus

        if self.backend == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform == "cpu":
                return f"CPU (JAX-XLA, {available_cpus()} CPUs available): {_cpu_name()}"
            return f"{dev.platform.upper()}:{dev.id} {getattr(dev, 'device_kind', '')}".strip()
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return "GPU:0 (TensorFlow)"
        return f"CPU (TensorFlow, {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads): {_cpu_name()}"

    def _compile(self, k: int) -> None:
        """Compile the step for ``k`` frames, warm it, and start a new stream."""
        if k < 1:
            raise ModelError(f"frames per step must be >= 1, got {k}")
        t0 = time.perf_counter()
        net = self.net
        initial = net.initial_state(1, k)
        if self.backend == "jax":
            import jax

            jax.config.update("jax_cpu_enable_async_dispatch", False)
            jitted = jax.jit(lambda x, st: net.step(x, st), donate_argnums=(1,))

            def step(x, states):
                return jitted(x, states)

            def fresh():
                return tuple(jax.device_put(np.array(a)) for a in initial)
        else:
            import tensorflow as tf

            fn, _ = tf_step_function(net, k)
            n_states = len(initial)

            def step(x, states):
                out = fn(x, *states)
                return out["est"], tuple(out[f"new{i}"] for i in range(n_states))

            def fresh():
                return tuple(tf.constant(a) for a in initial)

        self._step, self._fresh = step, fresh
        self.frames = k
        self._x = np.zeros((1, MODEL_BINS, k, N_CHANNELS), np.float32)
        rng = np.random.default_rng(0)
        self.reset()
        for _ in range(self._warmup_calls):
            self.step(rng.uniform(0.0, 10.0, self._x.shape).astype(np.float32))
        self.reset()
        self.warmup_s += time.perf_counter() - t0

    # -- the engine's hooks --------------------------------------------------------------

    def bind(self, config: StreamConfig) -> None:
        """An engine starts: check its look-ahead, compile for its model hop, start a stream.

        Raises
        ------
        ModelError
            ``config.lookahead_frames`` > 0: a causal model has no use for future
            frames (its estimates for a frame depend on that frame and the past only),
            so a look-ahead would add latency and change nothing.
        """
        if config.lookahead_frames:
            raise ModelError(f"this model is causal (a stream_* architecture): it takes no "
                             f"look-ahead, got lookahead_frames={config.lookahead_frames}; use 0")
        if config.model_hop_frames != self.frames:
            self._compile(config.model_hop_frames)
        else:
            self.reset()

    def reset(self) -> None:
        """Start a new stream: the next step is the first frame ever heard."""
        self._state = self._fresh()

    def step(self, mag: np.ndarray) -> np.ndarray:
        """Estimates for the newest frames, given everything stepped since :meth:`reset`.

        Parameters
        ----------
        mag : np.ndarray [shape=(1, MODEL_BINS, k, 2), dtype=float32], k <= frames
            Magnitudes of the next ``k`` frames (``k`` < ``frames`` only for the last
            step of a stream: it is padded with silence, which no earlier frame sees).

        Returns
        -------
        np.ndarray [shape=(1, N_STEMS, MODEL_BINS, k, 2), dtype=float32]
        """
        k = mag.shape[2]
        if mag.shape != (1, MODEL_BINS, k, N_CHANNELS) or not 1 <= k <= self.frames:
            raise ModelError(f"a step takes (1, {MODEL_BINS}, k <= {self.frames}, {N_CHANNELS}) "
                             f"magnitudes, got {mag.shape}")
        if k == self.frames:
            x = np.ascontiguousarray(mag, np.float32)
        else:
            x = self._x
            x[...] = 0.0
            x[:, :, :k] = mag
        est, self._state = self._step(x, self._state)
        return np.asarray(est, np.float32)[:, :, :, :k]

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """The full form over windows (each as the start of a stream), for callers of the
        window interface: (B, 1024, 192, 2) -> (B, 4, 1024, 192, 2)."""
        return np.asarray(self.model(np.asarray(mag, np.float32), training=False), np.float32)

    def __repr__(self) -> str:
        return (f"StreamRuntime({self.config.arch}, params={self.params}, backend={self.backend}, "
                f"device={self.device!r}, frames={self.frames}, warmup_s={self.warmup_s:.2f})")

