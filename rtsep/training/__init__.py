"""Training: synthetic multitrack data (:mod:`rtsep.training.synth`), the data pipeline,
losses, checkpoints and the training loop.

Importing this package is cheap: TensorFlow is imported by the modules that need it.
"""
