"""Stand-in models for tests and benchmarks: plain callables of the model interface.

- :class:`RouteModel` — the input on one stem: a routing and alignment probe, with
  optional delays and stalls (the live tests);
- :class:`RandomKerasModel` — an untrained network that costs what a trained one of
  the same architecture costs (benchmarks before any weights exist);
- :class:`NullModel` — costs nothing: times the DSP alone.

:func:`parse_test_model` reads them from the hidden ``--test-model`` option. Keras and
:mod:`rtsep.nn` are imported only when a :class:`RandomKerasModel` is first called.
"""

from __future__ import annotations

import time

import numpy as np

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS, STEMS
from rtsep.engine.model import StatelessModel
from rtsep.errors import ConfigError


class RouteModel(StatelessModel):
    """Test model: the input magnitude on one stem, zeros on the others.

    With ratio masks this sends the whole input to that stem (and, unless it is
    vocals, to the instrumental pair), delayed by the latency: a routing and
    alignment probe. Picklable, so it also runs in a worker process.

    Parameters
    ----------
    stem : str
        One of :data:`rtsep.constants.STEMS`.
    delay_s : float
        Sleep this long per call (simulates a slow model).
    stall_s : float
        Sleep this long once, in the first call whose input magnitude exceeds
        ``stall_above`` (simulates a hiccup the reserve cannot cover; warm-up
        signals stay far below it).
    stall_above : float
        A sine of amplitude 0.5 reaches a magnitude of ~512.
    """

    def __init__(self, stem: str = "vocals", delay_s: float = 0.0, *, stall_s: float = 0.0,
                 stall_above: float = 100.0):
        if stem not in STEMS:
            raise ConfigError(f"route model: unknown stem {stem!r}; use one of {', '.join(STEMS)}")
        self.stem = stem
        self.index = STEMS.index(stem)
        self.delay_s = float(delay_s)
        self.stall_s = float(stall_s)
        self.stall_above = float(stall_above)
        self._est = None

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """``mag`` (B, 1024, 192, 2) float32 -> (B, 4, 1024, 192, 2) float32."""
        if self._est is None or self._est.shape[0] != mag.shape[0]:
            self._est = np.zeros((mag.shape[0], N_STEMS) + mag.shape[1:], np.float32)
        self._est[:, self.index] = mag
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.stall_s and float(mag.max()) > self.stall_above:
            time.sleep(self.stall_s)
            self.stall_s = 0.0
        return self._est


class RandomKerasModel(StatelessModel):
    """Benchmark model: an *untrained* rtsep.nn network (random weights).

    Costs what the trained network of the same architecture costs, so load and
    latency can be measured before any weights exist. Built lazily on the first
    call (on the worker), so the object is cheap to pickle.

    Parameters
    ----------
    arch, size : str
        A preset of :meth:`rtsep.nn.ModelConfig.preset`.
    threads : int, optional
        TensorFlow intra-op threads.
    """

    def __init__(self, arch: str = "unet", size: str = "default", threads: int | None = None):
        self.arch, self.size, self.threads = arch, size, threads
        self._fn = None

    def __getstate__(self):
        return {"arch": self.arch, "size": self.size, "threads": self.threads, "_fn": None}

    def _build(self):
        import keras

        from rtsep.nn import ModelConfig, build_model
        from rtsep.runtime.compiled import ModelRuntime, configure_tensorflow_threads

        if keras.backend.backend() == "tensorflow":
            configure_tensorflow_threads(self.threads)
        cfg = ModelConfig.preset(self.arch, self.size)
        # the same compiled call path as a trained artifact (rtsep.runtime.compiled)
        self._fn = ModelRuntime.from_model(build_model(cfg), cfg, batch_size=1, warmup_calls=1)

    @property
    def device(self) -> str:
        return getattr(self._fn, "device", "cpu")

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """``mag`` (B, 1024, 192, 2) float32 -> (B, 4, 1024, 192, 2) float32."""
        if self._fn is None:
            self._build()
        return self._fn(mag)


def parse_test_model(spec: str):
    """Test/benchmark models for the hidden CLI option ``--test-model``.

    ``route:STEM[:DELAY_MS]`` -> :class:`RouteModel`;
    ``random:ARCH[:SIZE]`` -> :class:`RandomKerasModel` (untrained, for timing).
    """
    parts = spec.split(":")
    if parts[0] == "route" and len(parts) in (2, 3):
        try:
            delay = float(parts[2]) / 1000 if len(parts) == 3 else 0.0
        except ValueError:
            raise ConfigError(f"test model {spec!r}: {parts[2]!r} is not a delay in ms") from None
        return RouteModel(parts[1], delay)
    if parts[0] == "random" and len(parts) in (2, 3):
        from rtsep.nn import ARCHS, SIZES

        size = parts[2] if len(parts) == 3 else "default"
        if parts[1] not in ARCHS or size not in SIZES:
            raise ConfigError(f"test model {spec!r}: use random:ARCH[:SIZE] with ARCH in "
                              f"{ARCHS} and SIZE in {SIZES}")
        return RandomKerasModel(parts[1], size)
    raise ConfigError(f"unknown test model {spec!r}; use route:STEM[:DELAY_MS] or "
                      "random:ARCH[:SIZE]")


class NullModel(StatelessModel):
    """A model that costs nothing (equal estimates everywhere): times the DSP alone.

    ``NullModel(streaming=True)`` is driven as a streaming model (the engine hands it
    the new frames only, not a 192-frame window): the DSP of a streaming model's hop.
    """

    def __init__(self, streaming: bool = False):
        self.streaming = bool(streaming)
        self._est = np.ones((1, N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS), np.float32)

    def __call__(self, mag):
        """(B, 1024, 192, 2) -> ones (1, 4, 1024, 192, 2)."""
        return self._est

    def step(self, mag):
        """(1, 1024, K, 2) -> ones (1, 4, 1024, K, 2) (``streaming=True`` only)."""
        return self._est[:, :, :, :mag.shape[2]]
