"""rtsep.training.losses: the per-example losses against numpy references."""

import numpy as np

from rtsep.training.losses import per_example_loss


def test_psa_loss_scores_the_ratio_masked_mixture():
    """The "psa" loss is L1 between (e_j / sum_k e_k) |X| and the targets: the same for
    estimates rescaled by any positive factor per bin (only the ratios matter), equal
    to a numpy reference (float32 tolerance 1e-6 relative)."""
    rng = np.random.default_rng(7)
    shape = (2, 4, 16, 8, 2)
    est = rng.uniform(0.0, 2.0, shape).astype(np.float32)
    x = rng.uniform(0.1, 3.0, (2, 16, 8, 2)).astype(np.float32)
    y = rng.normal(0.0, 1.0, shape).astype(np.float32)
    loss = per_example_loss("psa")
    got = np.asarray(loss(est, y, x))
    want = np.abs(est / est.sum(axis=1, keepdims=True) * x[:, None] - y).mean(axis=(1, 2, 3, 4))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    scale = rng.uniform(0.5, 50.0, (2, 1, 16, 8, 2)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loss(est * scale, y, x)), got, rtol=1e-5)
    assert np.abs(np.asarray(per_example_loss("l1")(est * scale, y, x)) - got).min() > 1e-2
