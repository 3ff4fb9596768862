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
    """``loss(est, y, x) -> (B,)``, one of :data:`LOSSES`.

    Parameters
    ----------
    kind : str

    Returns
    -------
    callable
        ``loss(est, y, x)`` with ``est``, ``y`` tensors [shape=(B, 4, 1024, 192, 2)] and
        ``x`` [shape=(B, 1024, 192, 2)] (the mixture magnitudes), returning [shape=(B,)].
    """
    import tensorflow as tf

    def loss(est, y, x):
        if kind == "l1_log":
            est, y = tf.math.log1p(tf.nn.relu(est)), tf.math.log1p(y)
        elif kind == "psa":
            est = tf.nn.relu(est)
            est = est / (tf.reduce_sum(est, axis=1, keepdims=True) + _RATIO_EPS) * x[:, None]
        return tf.reduce_mean(tf.abs(est - y), axis=[1, 2, 3, 4])

    return loss
