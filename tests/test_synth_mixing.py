"""Tests of the synth's mix-down to the 16-bit grid (:mod:`rtsep.training.synth.mixing`).

Pure numpy: no Debian packages needed.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from rtsep.constants import STEMS
from rtsep.errors import RtsepError
from rtsep.training.synth import mixing

PEAK_DBFS = -1.0


@pytest.fixture
def rng():
    return np.random.default_rng(20240515)


def _stems(rng, n: int = 4096, keys=STEMS) -> dict[str, np.ndarray]:
    return {k: (0.3 * rng.standard_normal((n, 2))).astype(np.float32) for k in keys}


@pytest.mark.parametrize("keys", [STEMS, ("vocals", "accompaniment")])
def test_to_grid_mixture_is_exact_sum_and_peaks_at_the_ceiling(rng, keys):
    out = mixing.to_grid(_stems(rng, keys=keys), PEAK_DBFS)
    assert list(out) == list(keys) + ["mixture"]
    total = sum(out[k].astype(np.int32) for k in keys)
    assert np.array_equal(total, out["mixture"].astype(np.int32))  # tolerance: zero
    peak = max(np.abs(v.astype(np.int32)).max() for v in out.values()) / mixing.FULL_SCALE
    ceiling = 10 ** (PEAK_DBFS / 20)
    assert ceiling - 2 / mixing.FULL_SCALE <= peak <= ceiling + 2 / mixing.FULL_SCALE


def test_to_grid_refuses_non_finite_stems_naming_them(rng):
    """A NaN stem used to make the peak and the scale NaN: every stem and the
    mixture were written as one garbage value (silence, after the cast)."""
    stems = _stems(rng)
    stems["vocals"][100:200] = np.nan
    stems["bass"][5, 1] = np.inf
    with pytest.raises(mixing.NonFiniteAudioError) as info:
        mixing.to_grid(stems, PEAK_DBFS)
    exc = info.value
    assert isinstance(exc, RtsepError)
    assert exc.stems == ("vocals", "bass")
    msg = str(exc)
    assert "vocals (200 NaN, 0 inf" in msg and "bass (0 NaN, 1 inf" in msg
    assert "drums" not in msg and "other" not in msg
    # raised in worker processes: it crosses the process boundary intact
    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == msg and again.stems == exc.stems


def test_to_grid_silence_stays_silence():
    stems = {k: np.zeros((64, 2), dtype=np.float32) for k in STEMS}
    out = mixing.to_grid(stems, PEAK_DBFS)
    assert all(not v.any() for v in out.values())
