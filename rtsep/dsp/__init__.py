"""The fixed front end, knowing nothing of models, TensorFlow or JACK.

- :mod:`rtsep.dsp.stft` — windows, STFT/ISTFT (pyfftw), the one conversion to the
  Keras layout, the magnitudes a model sees;
- :mod:`rtsep.dsp.kernels` — the Numba kernels of the STFT and of the streaming
  engine (package-private: only :mod:`rtsep.dsp` and :mod:`rtsep.engine` call them).
"""
