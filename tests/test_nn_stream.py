"""Tests of the streaming architectures (rtsep.nn.stream, rtsep.nn.streaming).

The step form must reproduce the full form: stepping through a sequence K frames at
a time from the initial state gives the full form's estimates for every frame, to
1e-4 of the output's scale (measured: ~3e-7 in float32), for K = 1, 3 and 7 and a
sequence longer than the tiny presets' 16-frame context (so the sliding band, the
ring's wrap-around and the convolutions' history are all exercised).
"""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.nn import build_model
from rtsep.nn.config import ModelConfig
from rtsep.nn.stream import stream_core
from rtsep.nn.streaming import band_mask, ring_slots

STREAM_ARCHS = ("stream_unet", "stream_hybrid")
T = 40


@pytest.fixture(scope="module")
def nets():
    return {arch: stream_core(build_model(ModelConfig.preset(arch, "tiny"))) for arch in STREAM_ARCHS}


@pytest.fixture(scope="module")
def song():
    rng = np.random.default_rng(7)
    mag = rng.gamma(1.0, 2.0, (1, 1024, T, 2)).astype(np.float32)
    mag[:, :, 5:9] = 0.0  # a silent stretch
    return mag


def run_steps(net, mag, k):
    """Step through ``mag`` (1, 1024, T, 2) k frames at a time; the last step may be shorter."""
    states = net.initial_state(1, k)
    outs = []
    for t in range(0, mag.shape[2], k):
        est, states = net.step(mag[:, :, t:t + k], states)
        outs.append(np.asarray(est))
    return np.concatenate(outs, axis=3)


@pytest.mark.parametrize("arch", STREAM_ARCHS)
@pytest.mark.parametrize("k", [1, 3, 7])
def test_step_form_equals_full_form(nets, song, arch, k):
    net = nets[arch]
    full = np.asarray(net(song))
    assert full.shape == (1, 4, 1024, T, 2)
    stepped = run_steps(net, song, k)
    assert np.abs(stepped - full).max() <= 1e-4 * np.abs(full).max()


@pytest.mark.parametrize("arch", STREAM_ARCHS)
def test_full_form_is_causal(nets, song, arch):
    """Changing frames from 25 on leaves the estimates of frames 0..24 unchanged."""
    net = nets[arch]
    other = song.copy()
    other[:, :, 25:] = np.random.default_rng(1).gamma(1.0, 5.0, other[:, :, 25:].shape)
    a, b = np.asarray(net(song)), np.asarray(net(other))
    np.testing.assert_array_equal(a[..., :25, :], b[..., :25, :])
    assert np.abs(a[..., 25:, :] - b[..., 25:, :]).max() > 0


def test_a_new_initial_state_starts_a_new_stream(nets, song):
    """The state carries the past: continuing differs from starting again, and two
    fresh streams agree."""
    net = nets["stream_hybrid"]
    states = net.initial_state(1, 4)
    for t in range(0, 20, 4):
        _, states = net.step(song[:, :, t:t + 4], states)
    continued, _ = net.step(song[:, :, 20:24], states)
    fresh1, _ = net.step(song[:, :, 20:24], net.initial_state(1, 4))
    fresh2, _ = net.step(song[:, :, 20:24], net.initial_state(1, 4))
    np.testing.assert_array_equal(np.asarray(fresh1), np.asarray(fresh2))
    assert np.abs(np.asarray(continued) - np.asarray(fresh1)).max() > 1e-3


def test_estimates_are_masks_times_the_mixture(nets, song):
    full = np.asarray(nets["stream_hybrid"](song))
    assert (full >= 0).all()
    assert (full <= song[:, None] * (1 + 1e-6) + 1e-6).all()
    np.testing.assert_allclose(np.asarray(nets["stream_unet"](song)).sum(axis=1), song,
                               rtol=1e-5, atol=1e-5)


def test_band_mask_and_ring_size():
    allowed, dist = band_mask(2, 5, 3)
    # queries at key positions 3 and 4; each sees itself and 2 frames back
    np.testing.assert_array_equal(allowed, [[0, 1, 1, 1, 0], [0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(dist[allowed], [2, 1, 0, 2, 1, 0])
    assert ring_slots(192, 1) == 192
    assert ring_slots(192, 64) == 256 and ring_slots(16, 7) == 28
