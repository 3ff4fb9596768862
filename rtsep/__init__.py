"""rtsep: real-time music stem separation for JACK.

The package is layered; imports go one way only:

- :mod:`rtsep.constants`, :mod:`rtsep.errors` — shared facts, no dependencies.
- :mod:`rtsep.dsp` — STFT/ISTFT (pyfftw) and Numba kernels. Knows nothing of
  TensorFlow or JACK.
- :mod:`rtsep.engine` — streaming overlap-add separator around *any* callable model.
- :mod:`rtsep.oracle`, :mod:`rtsep.separate`, :mod:`rtsep.evaluate`, :mod:`rtsep.audio`.
- :mod:`rtsep.nn` — Keras 3 networks (never imports jack).
- :mod:`rtsep.live` — the JACK client.
- :mod:`rtsep.cli` — a thin command line over all of the above.

Importing :mod:`rtsep` itself imports nothing heavy.
"""

__version__ = "0.1.0"
