"""rtsep.engine.offline: the batched twin of the streaming engine."""

import numpy as np
import pytest

from rtsep.dsp.stft import n_frames_for
from rtsep.engine import StreamConfig, StreamingSeparator
from rtsep.engine.offline import OFFLINE_CONFIG, separate_array, separate_blocks
from rtsep.engine.oracle import OracleModel
from rtsep.errors import AudioError
from toy_models import nonlinear_model, stream  # tests/toy_models.py


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("la,k", [(0, 1), (2, 3), (64, 64)])
def test_streaming_equals_offline(rng, la, k):
    x = rng.uniform(-1, 1, (40_000, 2)).astype(np.float32)
    cfg = StreamConfig(lookahead_frames=la, model_hop_frames=k)
    eng = StreamingSeparator(nonlinear_model, cfg)
    y = stream(eng, x, [777, 1, 4096, 300])
    d = eng.latency_samples
    off = separate_array(nonlinear_model, x, cfg, batch_size=3)
    assert off.shape == (5, len(x), 2)
    assert np.max(np.abs(y[:, d:d + len(x)] - off)) < 1e-5


def test_blocks_in_bounded_memory_equal_offline(rng):
    """separate_blocks (any block sizes, the last one short) gives separate_array's
    output, aligned, exactly as many samples as went in, progress in samples."""
    x = rng.uniform(-1, 1, (50_001, 2)).astype(np.float32)
    cfg = StreamConfig(lookahead_frames=3, model_hop_frames=2)
    want = separate_array(nonlinear_model, x, cfg)
    got, seen = [], []
    cuts = [0, 1, 9000, 9001, 30000, len(x)]
    n = separate_blocks(nonlinear_model, (x[a:b] for a, b in zip(cuts, cuts[1:])), got.append, cfg,
                        progress=seen.append)
    y = np.concatenate(got, axis=1)
    assert n == len(x) and y.shape == want.shape
    assert np.max(np.abs(y - want)) < 1e-5
    assert seen == cuts[1:]


def test_batch_size_and_progress_do_not_change_the_output(rng):
    x = rng.uniform(-1, 1, (50_000, 2)).astype(np.float32)
    cfg = StreamConfig(lookahead_frames=3, model_hop_frames=5)
    seen = []
    a = separate_array(nonlinear_model, x, cfg, batch_size=1)
    b = separate_array(nonlinear_model, x, cfg, batch_size=7, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(a, b)
    n_calls = -(-(n_frames_for(len(x)) + 3) // 5)  # (frames + lookahead) / model hop
    assert seen[-1] == (n_calls, n_calls) and [d for d, _ in seen] == sorted({d for d, _ in seen})


def test_oracle_reconstructs_the_stems(rng):
    """Ideal ratio masks of stems with disjoint spectra give back the stems (1e-3), also
    for a signal shorter than one model window (4.46 s)."""
    n = 60_000
    t = np.arange(n) / 44100
    stems = np.stack([np.stack([0.3 * np.sin(2 * np.pi * f * t)] * 2, axis=1)
                      for f in (440.0, 1500.0, 60.0, 5000.0)]).astype(np.float32)
    out = separate_array(OracleModel(stems), stems.sum(axis=0))
    assert OFFLINE_CONFIG.model_hop_frames == 64
    err = np.abs(out[:4, 8192:-8192] - stems[:, 8192:-8192]).max()
    assert err < 1e-3, err
    np.testing.assert_allclose(out[4], out[1:4].sum(axis=0), atol=1e-6)


def test_bad_input_shape():
    with pytest.raises(AudioError, match="shape"):
        separate_array(nonlinear_model, np.zeros((100, 3), np.float32))
