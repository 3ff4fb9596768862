"""A Keras model compiled and warmed as the plain numpy callable of the model interface.

``ModelRuntime(model, config)(mag)`` takes magnitudes float32 (batch, 1024, 192, 2)
and returns estimates float32 (batch, 4, 1024, 192, 2), like any rtsep model
(:mod:`rtsep.engine.model`); :func:`rtsep.runtime.loader.load_model` makes one from
an artifact.

- TensorFlow backend (the default): the model runs inside a ``tf.function``
  traced once for the input signature (batch_size, 1024, 192, 2), without XLA
  (on 2 CPU cores XLA made a U-Net 2.5x slower). Calls with another batch size
  go through a second function traced for a dynamic batch (once, on first use).
  On the CPU the intra-op thread count is set before TensorFlow initialises; on a
  GPU, TensorFlow places the graph there by itself.
- JAX backend (``KERAS_BACKEND=jax``): ``jax.jit`` over the model's
  ``stateless_call``; one compilation per batch size, the compiled one warmed.

Both warm up (``warmup_calls`` calls of the compiled batch) before returning,
and record the time in ``warmup_s``, so the first real block never waits for a
trace or a compile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.engine.model import StatelessModel
from rtsep.errors import ModelError
from rtsep.nn.config import ModelConfig

INPUT_SHAPE = (MODEL_BINS, MODEL_FRAMES, N_CHANNELS)
OUTPUT_SHAPE = (N_STEMS, *INPUT_SHAPE)


def available_cpus() -> int:
    """CPUs this process may run on (affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def configure_tensorflow_threads(threads: int | None = None, inter_op_threads: int = 1) -> tuple[int, int]:
    """Set TensorFlow's intra-/inter-op thread pools (before TF initialises).

    GPUs, if any, are set to allocate memory as needed instead of all at once.

    Parameters
    ----------
    threads : int, optional
        Intra-op threads (None: all CPUs available to the process).
    inter_op_threads : int
        Inter-op threads (independent graph branches run in parallel; 1 keeps the
        model to ``threads`` cores).

    Returns
    -------
    (intra, inter) : tuple of int
        The pools in effect. If TensorFlow was already initialised by the caller, the
        pools cannot change any more and their current sizes are returned (0 means
        TensorFlow's own default, all cores).
    """
    import tensorflow as tf

    if threads is not None and threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    intra = available_cpus() if threads is None else int(threads)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op_threads))
        for gpu in tf.config.list_physical_devices("GPU"):  # share the GPU (JACK apps, JAX)
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # context already initialised: keep what is there
        pass
    return (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return "CPU"


class ModelRuntime(StatelessModel):
    """A warmed, compiled model: ``runtime(mag) -> est``.

    Parameters
    ----------
    model : keras.Model
        Input (batch, 1024, 192, 2) magnitudes, output (batch, 4, 1024, 192, 2).
    config : rtsep.nn.ModelConfig
    batch_size : int
        The batch of the fixed-shape compiled function.
    warmup_calls : int
        Calls made before the constructor returns.
    path : pathlib.Path, optional
    card_text : str
    threads_info : (intra, inter), optional
        TensorFlow's thread pools, as :func:`configure_tensorflow_threads` returned them.

    Attributes
    ----------
    config : rtsep.nn.ModelConfig
        The architecture config.
    params : int
        Parameter count.
    backend : str
        ``"tensorflow"`` or ``"jax"``.
    device : str
        Where it runs, in words (e.g. "CPU (2 threads): Intel Xeon ...",
        "GPU:0 NVIDIA H100 80GB HBM3").
    batch_size : int
        The batch the fixed-shape function was compiled for.
    warmup_s : float
        Seconds spent tracing/compiling and in the warm-up calls.
    path : pathlib.Path or None
        The artifact folder (None for :meth:`from_model`).
    card_text : str
        The artifact's model card ("" for :meth:`from_model`).
    model : keras.Model
    """

    def __init__(self, model, config: ModelConfig, *, batch_size: int = 1, warmup_calls: int = 3,
                 path: Path | None = None, card_text: str = "", threads_info: tuple[int, int] | None = None):
        import keras

        from rtsep.nn import count_params

        if int(batch_size) < 1:
            raise ModelError(f"batch_size must be >= 1, got {batch_size}")
        if int(warmup_calls) < 0:
            raise ModelError(f"warmup_calls must be >= 0, got {warmup_calls}")
        self.model = model
        self.config = config
        self.params = count_params(model)
        self.batch_size = int(batch_size)
        self.path = path
        self.card_text = card_text
        self.backend = keras.backend.backend()
        if self.backend == "tensorflow":
            self._fixed, self._any, self.device = self._tensorflow_functions(threads_info)
        elif self.backend == "jax":
            self._fixed, self._any, self.device = self._jax_functions()
        else:
            raise ModelError(f"Keras backend {self.backend!r} is not supported by the rtsep runtime; "
                             f"set KERAS_BACKEND=tensorflow (default) or jax")
        self.warmup_s = self.warmup(warmup_calls)

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_model(cls, keras_model, config: ModelConfig, *, batch_size: int = 1,
                   warmup_calls: int = 1) -> "ModelRuntime":
        """Wrap an in-memory Keras model (e.g. during training, for validation).

        The model's current weights are used at every call (TensorFlow reads the
        variables; the JAX path reads them when the runtime is made: make a new
        runtime after training further).
        """
        return cls(keras_model, config, batch_size=batch_size, warmup_calls=warmup_calls)

    def _tensorflow_functions(self, threads_info):
        import tensorflow as tf

        model = self.model
        fixed = tf.function(lambda x: model(x, training=False), jit_compile=False,
                            input_signature=[tf.TensorSpec((self.batch_size, *INPUT_SHAPE), tf.float32)])
        dynamic = tf.function(lambda x: model(x, training=False), jit_compile=False,
                              input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)])
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            try:
                details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
                name = details.get("device_name", "GPU")
            except (RuntimeError, IndexError, ValueError):  # pragma: no cover
                name = "GPU"
            device = f"GPU:0 {name}"
        else:
            intra, inter = threads_info or (tf.config.threading.get_intra_op_parallelism_threads(),
                                            tf.config.threading.get_inter_op_parallelism_threads())
            shown = intra if intra > 0 else available_cpus()
            device = f"CPU ({shown} threads, inter-op {inter if inter > 0 else 'default'}): {_cpu_name()}"

        def call_fixed(x: np.ndarray) -> np.ndarray:
            return fixed(x).numpy()

        def call_any(x: np.ndarray) -> np.ndarray:
            return dynamic(x).numpy()

        return call_fixed, call_any, device

    def _jax_functions(self):
        import jax

        model = self.model
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def run(tv, ntv, x):
            y, _ = model.stateless_call(tv, ntv, x, training=False)
            return y

        def call(x: np.ndarray) -> np.ndarray:
            return np.asarray(run(trainable, non_trainable, x))

        dev = jax.devices()[0]
        device = f"{dev.platform.upper()}:{dev.id} {getattr(dev, 'device_kind', '')}".strip()
        return call, call, device

    # -- calls ------------------------------------------------------------------------

    def warmup(self, calls: int = 3) -> float:
        """Run ``calls`` calls of the compiled batch on random input; return seconds."""
        rng = np.random.default_rng(0)
        x = rng.uniform(0.0, 10.0, (self.batch_size, *INPUT_SHAPE)).astype(np.float32)
        t0 = time.perf_counter()
        for _ in range(calls):
            self._fixed(x)
        return time.perf_counter() - t0

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """Estimates for a batch of magnitude windows.

        Parameters
        ----------
        mag : np.ndarray [shape=(batch, 1024, 192, 2), dtype=float32]
            Other float dtypes are converted; batch >= 0.

        Returns
        -------
        np.ndarray [shape=(batch, 4, 1024, 192, 2), dtype=float32]
            Non-negative estimates, in STEMS order.

        Raises
        ------
        ModelError
            A wrong shape.
        """
        x = np.asarray(mag)
        if x.ndim != 4 or tuple(x.shape[1:]) != INPUT_SHAPE:
            raise ModelError(f"model input must have shape (batch, {', '.join(map(str, INPUT_SHAPE))}), "
                             f"got {tuple(x.shape)}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        n = x.shape[0]
        if n == self.batch_size:
            return self._check(self._fixed(x), n)
        if n == 0:
            return np.zeros((0, *OUTPUT_SHAPE), np.float32)
        return self._check(self._any(x), n)

    @staticmethod
    def _check(y: Any, n: int) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if y.shape != (n, *OUTPUT_SHAPE):  # pragma: no cover - a broken architecture
            raise ModelError(f"model returned shape {y.shape}, expected {(n, *OUTPUT_SHAPE)}")
        return y

    def __repr__(self) -> str:
        return (f"ModelRuntime({self.config.arch}, params={self.params}, backend={self.backend}, "
                f"device={self.device!r}, batch_size={self.batch_size}, warmup_s={self.warmup_s:.2f})")
