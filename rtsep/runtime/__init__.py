"""Models as callables: artifacts on disk (:mod:`~rtsep.runtime.artifact`), a Keras
model compiled and warmed (:mod:`~rtsep.runtime.compiled`), the one model loader
(:func:`~rtsep.runtime.loader.load_model`) and stand-in models for tests and
benchmarks (:mod:`~rtsep.runtime.stand_ins`).

Importing this package does not import Keras or TensorFlow.
"""

from rtsep.runtime.loader import load_model

__all__ = ["load_model"]
