"""Training, one stage per module:

- :mod:`~rtsep.training.synth` — synthetic multitrack songs (``rtsep synth``);
- :mod:`~rtsep.training.tracks` — the tracks of a MUSDB18-HQ-style folder and their split;
- :mod:`~rtsep.training.excerpts` — excerpts read in place, their spectra, validation excerpts;
- :mod:`~rtsep.training.data` — the augmented training examples and their targets;
- :mod:`~rtsep.training.pipeline` — their ``tf.data`` stream;
- :mod:`~rtsep.training.config` — :class:`~rtsep.training.config.TrainConfig`, saved beside the weights;
- :mod:`~rtsep.training.losses` — the losses;
- :mod:`~rtsep.training.checkpoints` — checkpoints and the run state (resume);
- :mod:`~rtsep.training.loop` — :func:`~rtsep.training.loop.train`, the training loop;
- :mod:`~rtsep.training.validation` — validation SDR on fixed excerpts during training;
- :mod:`~rtsep.training.artifacts` — the artifact a run publishes, and a warm start from one;
- :mod:`~rtsep.training.card` — the model card's text;
- :mod:`~rtsep.training.tensorboard` — TensorBoard summaries.

Importing this package is cheap: TensorFlow is imported by the functions that need it.
"""
