"""rtsep.engine.streaming: exact latency, any block sizes, robustness, no allocation."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rtsep.constants import HOP, MODEL_FRAMES, N_FFT
from rtsep.engine import StreamConfig, StreamingSeparator
from rtsep.errors import ConfigError, ModelError
from toy_models import nonlinear_model, routing_model, stream  # tests/toy_models.py


@pytest.fixture
def rng():
    return np.random.default_rng(7)


CONFIGS = [(0, 1), (0, 4), (3, 1), (2, 5), (10, 16)]


@settings(max_examples=12, deadline=None)
@given(sizes=st.lists(st.integers(1, 10_000), min_size=1, max_size=12),
       cfg=st.sampled_from(CONFIGS), stem=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_identity_masks_delay_input_by_latency(sizes, cfg, stem, seed):
    la, k = cfg
    x = np.random.default_rng(seed).uniform(-1, 1, (20_000, 2)).astype(np.float32)
    eng = StreamingSeparator(routing_model(stem), StreamConfig(lookahead_frames=la, model_hop_frames=k))
    d = eng.latency_samples
    assert d == N_FFT - 1 + (la + k - 1) * HOP
    y = stream(eng, x, sizes)
    # the routed stem is the input delayed by exactly d samples (tolerance 1e-5)
    assert np.max(np.abs(y[stem, d:d + len(x)] - x)) < 1e-5
    assert np.max(np.abs(y[stem, :d])) < 1e-5  # nothing before the latency
    others = [j for j in range(4) if j != stem]
    assert np.max(np.abs(y[others])) < 1e-5
    inst = y[4]
    if stem == 0:
        assert np.max(np.abs(inst)) < 1e-5
    else:
        assert np.max(np.abs(inst[d:d + len(x)] - x)) < 1e-5


@pytest.mark.parametrize("high_band,power", [("average", 1.0), ("average", 2.0)])
def test_stems_sum_to_mixture(rng, high_band, power):
    x = rng.uniform(-1, 1, (30_000, 2)).astype(np.float32)
    eng = StreamingSeparator(nonlinear_model, StreamConfig(high_band=high_band, mask_power=power))
    y = stream(eng, x, [512])
    d = eng.latency_samples
    total = y[:4].sum(axis=0)[d:d + len(x)]
    assert np.max(np.abs(total - x)) < 1e-4  # float32 sum of 4 stems
    assert np.max(np.abs(y[0] + y[4] - y[:4].sum(axis=0))) < 1e-5  # instrumental = all but vocals


def test_zeros_high_band_drops_the_top(rng):
    """With "zeros" the stems lose everything above bin 1024 (~11 kHz)."""
    n = 30_000
    t = np.arange(n) / 44100
    x = np.stack([np.sin(2 * np.pi * 15000 * t)] * 2, axis=1).astype(np.float32)
    eng = StreamingSeparator(nonlinear_model, StreamConfig(high_band="zeros"))
    y = stream(eng, x, [1000])
    d = eng.latency_samples
    assert np.max(np.abs(y[:4, d + 5000:d + n - 5000])) < 1e-3


def test_silence_gives_silence(rng):
    eng = StreamingSeparator(nonlinear_model)
    y = stream(eng, np.zeros((20_000, 2), np.float32), [333])
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) == 0.0


def test_nonfinite_input_is_sanitised_and_stream_recovers(rng):
    x = rng.uniform(-1, 1, (60_000, 2)).astype(np.float32)
    bad = x.copy()
    bad[10_000:10_100, 0] = np.nan
    bad[20_000, 1] = np.inf
    bad[20_001, 0] = -np.inf
    clean = x.copy()
    clean[10_000:10_100, 0] = 0
    clean[20_000:20_002] = [[clean[20_000, 0], 0], [0, clean[20_001, 1]]]
    eng = StreamingSeparator(nonlinear_model)
    y = stream(eng, bad, [1024, 17])
    assert eng.nonfinite_count == 102
    assert np.all(np.isfinite(y))
    ref = stream(StreamingSeparator(nonlinear_model), clean, [4000])
    assert np.max(np.abs(y - ref)) < 1e-5
    # and a model that returns NaN cannot poison the output: masks split evenly
    nan_model = lambda mag: np.full((1, 4) + mag.shape[1:], np.nan, np.float32)  # noqa: E731
    eng2 = StreamingSeparator(nan_model)
    y2 = stream(eng2, x[:20_000], [1024])
    assert np.all(np.isfinite(y2))
    # every estimate of every emitted frame was NaN, and each was counted
    assert eng2.nonfinite_estimates == eng2.model_calls * 4 * 1024 * 2 > 0
    assert eng.nonfinite_estimates == 0


def test_latency_known_before_first_block():
    for la, k in CONFIGS:
        cfg = StreamConfig(lookahead_frames=la, model_hop_frames=k)
        assert cfg.latency_samples == StreamingSeparator(nonlinear_model, cfg).latency_samples
    assert StreamConfig().latency_samples == 4095


def test_bad_config_and_bad_model():
    with pytest.raises(ConfigError):
        StreamConfig(model_hop_frames=0)
    with pytest.raises(ConfigError):
        StreamConfig(lookahead_frames=100, model_hop_frames=MODEL_FRAMES)
    with pytest.raises(ConfigError):
        StreamConfig(high_band="mirror")
    eng = StreamingSeparator(lambda mag: np.zeros((1, 3, 1024, 192, 2), np.float32))
    with pytest.raises(ModelError, match="shape"):
        eng.process(np.zeros((2 * HOP, 2), np.float32))


def test_steady_state_hop_allocates_no_buffers(rng):
    """A hop allocates no arrays: the largest transient allocation of a hop stays far
    below one frame (16 KiB); Python ints of a few dozen bytes are all there is."""
    est = np.zeros((1, 4, 1024, 192, 2), np.float32)

    def static_model(mag):
        est[:, 1] = mag
        return est

    eng = StreamingSeparator(static_model)
    block = rng.uniform(-1, 1, (HOP, 2)).astype(np.float32)
    out = np.empty((5, HOP, 2), np.float32)
    for _ in range(20):
        eng.process(block, out=out)  # warm up: compile kernels, first model call
    tracemalloc.start()
    try:
        worst = 0
        for _ in range(50):
            tracemalloc.reset_peak()
            cur = tracemalloc.get_traced_memory()[0]
            eng.process(block, out=out)
            worst = max(worst, tracemalloc.get_traced_memory()[1] - cur)
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(500):
            eng.process(block, out=out)
        growth = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert worst < 1024, f"a hop allocated up to {worst} bytes"
    # nothing is retained: < 1 byte per hop over 500 hops (the test's own ints aside)
    assert growth < 500, f"memory grew by {growth} bytes over 500 hops"


@pytest.mark.parametrize("newest,n_slots,n_out", [(191, 192, 192), (5, 192, 192), (400, 192, 192),
                                                  (7, 192, 1), (201, 200, 4), (0, 8, 3)])
def test_assemble_window_reads_the_ring_oldest_first(newest, n_slots, n_out):
    from rtsep.dsp import kernels

    ring = np.random.default_rng(newest).random((1024, n_slots, 2), dtype=np.float32)
    out = np.zeros((1, 1024, n_out, 2), np.float32)
    kernels.assemble_window(ring, newest, out)
    want = ring[:, [(newest - n_out + 1 + t) % n_slots for t in range(n_out)]]
    np.testing.assert_array_equal(out[0], want)
