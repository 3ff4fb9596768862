"""rtsep: real-time music stem separation for JACK.

One package per stage; imports go one way only (``tests/test_architecture.py`` checks it)::

    constants, errors          shared facts, no dependencies
    io/        audio files, MUSDB18-HQ track folders, atomic writes, JSON
    dsp/       the STFT and its Numba kernels (no TensorFlow, no JACK)
    engine/    the model interface, the streaming and offline separators, the oracle
    nn/        Keras 3 networks (never import jack)
    runtime/   model artifacts, the compiled model, the one load_model, stand-in models
    live/      the JACK client: callback (live/jack/), worker, rings, latency
    bridge/    the LV2 plugin (C shim, built from source) and ``rtsep bridge``, its engine
    evaluate   SDR per track and over a dataset
    training/  synthetic data, data pipeline, losses, checkpoints, the training loop
    cli/       a thin command line over all of the above

``io``, ``dsp`` <- ``engine`` <- ``runtime`` <- ``live`` <- ``bridge``; ``training`` <- ``cli``;
``live`` never imports ``nn``, ``training`` never imports ``live``.
Importing :mod:`rtsep` itself imports nothing heavy.
"""

__version__ = "0.1.0"
