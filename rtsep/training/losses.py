"""Training losses, per example (TensorFlow is imported only when a loss is made).

``"l1"`` (the default and the baseline of the design): plain L1 between estimated
and true stem magnitudes, averaged over stems, bins, frames and channels.
``"l1_log"`` applies L1 to ``log1p(magnitude)``, which weighs quiet bins more. A
measurement supports plain L1 over ``l1_log``: the default U-Net, 250 steps of
batch 4 on 8 synthetic 30 s songs (``rtsep synth --tracks 10 --seed 1``, 2 held
out), validation SDR mean over stems 0.95 dB with ``l1`` against -0.43 dB with
``l1_log`` (vocals 2.72 / 2.69, drums 1.91 / 1.64, bass 0.95 / 0.29, other -1.76 /
-6.33 dB).

``"psa"`` scores what the engine outputs instead of the raw estimates: the
four estimates become ratio masks ``m_j = e_j / sum_k e_k`` (as in the engine, mask
power 1), and the loss is L1 between ``m_j |X|`` and the phase-sensitive targets
``Re(S_j conj(X)) / |X|`` (:mod:`rtsep.training.data`), the part of the stem's
complex STFT error that a real mask on the mixture can reduce. Its examples carry
those targets (:data:`TARGET_OF_LOSS`).

Accompaniment examples (``full`` = 0, :mod:`rtsep.training.data`) know two stems: the
vocals and the accompaniment (drums + bass + other). For them every loss compares the
vocals output with row 0 of ``y`` and the sum of the other three outputs with row 1,
and averages over those two terms (a fully labelled example: over four).
"""

from __future__ import annotations

LOSSES = ("l1", "l1_log", "psa")
TARGET_OF_LOSS = {"l1": "magnitude", "l1_log": "magnitude", "psa": "phase_sensitive"}
"""The :data:`rtsep.training.data.TARGETS` each loss compares the model's output with."""

DESCRIPTIONS = {
    "l1": "L1 on stem magnitudes (mean over stems, bins, frames, channels)",
    "l1_log": "L1 on log1p of stem magnitudes",
    "psa": "L1 between the ratio-masked mixture magnitudes and the phase-sensitive "
           "targets Re(S conj(X))/|X|",
}
"""Each loss in words (for the model card)."""

_RATIO_EPS = 1e-8
"""Added to the sum of the estimates before dividing (the estimates are mask x |X|,
so where it matters |X| is tiny and so is the output)."""


def per_example_loss(kind: str):
    """``loss(est, y, x, full=None) -> (B,)``, one of :data:`LOSSES`.

    Parameters
    ----------
    kind : str

    Returns
    -------
    callable
        ``loss(est, y, x, full)`` with ``est``, ``y`` tensors [shape=(B, 4, 1024, 192, 2)],
        ``x`` [shape=(B, 1024, 192, 2)] (the mixture magnitudes) and ``full`` [shape=(B,)]
        (1: every stem known, 0: vocals and accompaniment only; None: all 1), returning
        [shape=(B,)].
    """
    import tensorflow as tf

    def loss(est, y, x, full=None):
        if kind == "psa":
            est = tf.nn.relu(est)
            est = est / (tf.reduce_sum(est, axis=1, keepdims=True) + _RATIO_EPS) * x[:, None]
        terms = 4.0
        if full is not None:
            known = tf.reshape(tf.cast(full, est.dtype), (-1, 1, 1, 1, 1)) > 0.5
            grouped = tf.concat([est[:, :1], tf.reduce_sum(est[:, 1:], axis=1, keepdims=True),
                                 tf.zeros_like(est[:, 2:])], axis=1)
            est = tf.where(known, est, grouped)
            terms = 2.0 + 2.0 * tf.cast(full, est.dtype)
        if kind == "l1_log":
            est, y = tf.math.log1p(tf.nn.relu(est)), tf.math.log1p(y)
        return tf.reduce_mean(tf.abs(est - y), axis=[1, 2, 3, 4]) * (4.0 / terms)

    return loss
