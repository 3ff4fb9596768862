"""STFT/ISTFT of the fixed front end, against numpy.fft ("much less efficiently")."""

import numpy as np
import pytest

from rtsep.dsp.stft import (analysis_window, istft, model_magnitudes, n_frames_for, stft,
                             synthesis_window)
from rtsep.constants import HOP, MODEL_BINS, N_BINS, N_FFT


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def reference_stft(x):
    """Direct float64 STFT with numpy.fft, frame by frame."""
    n, c = x.shape
    n_frames = int(np.ceil(n / HOP)) + 3
    pad = np.zeros(((n_frames - 1) * HOP + N_FFT, c))
    pad[N_FFT - HOP:N_FFT - HOP + n] = x
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    out = np.empty((c, n_frames, N_BINS), np.complex128)
    for f in range(n_frames):
        for ch in range(c):
            out[ch, f] = np.fft.rfft(pad[f * HOP:f * HOP + N_FFT, ch] * w)
    return out


@pytest.mark.parametrize("n", [1, 1023, 1024, 5000, 12345])
def test_stft_matches_numpy_fft_float64(rng, n):
    x = rng.standard_normal((n, 2))
    got = stft(x)
    want = reference_stft(x)
    assert got.shape == want.shape == (2, n_frames_for(n), N_BINS)
    assert got.dtype == np.complex128
    # tolerance 1e-6 (absolute, for unit-variance input)
    assert np.max(np.abs(got - want)) < 1e-6


def test_round_trip_is_exact(rng):
    x = rng.standard_normal((10_000, 2))
    y = istft(stft(x), x.shape[0])
    assert np.max(np.abs(y - x)) < 1e-10  # float64: exact up to rounding
    x32 = x.astype(np.float32)
    y32 = istft(stft(x32), x.shape[0])
    assert y32.dtype == np.float32
    assert np.max(np.abs(y32 - x32)) < 1e-5


def test_windows_overlap_add_to_one():
    prod = analysis_window(np.float64) * synthesis_window(np.float64)
    total = sum(prod[k * HOP:(k + 1) * HOP] for k in range(N_FFT // HOP))
    assert np.max(np.abs(total - 1.0)) < 1e-12


def test_model_magnitudes_layout(rng):
    x = rng.standard_normal((3000, 2)).astype(np.float32)
    mag = model_magnitudes(x)
    assert mag.shape == (MODEL_BINS, n_frames_for(3000), 2)
    assert mag.dtype == np.float32
    want = np.abs(reference_stft(x.astype(np.float64)))[:, :, :MODEL_BINS].transpose(2, 1, 0)
    assert np.max(np.abs(mag - want)) < 1e-3  # float32 FFT of 4096 unit-variance samples


def test_frame_f_ends_at_sample_f_hop_plus_hop():
    """Frame f covers [f*HOP - 3072, f*HOP + 1024): an impulse at sample s shows up in
    frames floor(s/HOP) .. floor(s/HOP) + 3 only."""
    x = np.zeros((8 * HOP, 2))
    s = 3 * HOP + 17
    x[s] = 1.0
    energy = np.abs(stft(x)[0]).sum(axis=1)
    assert list(np.nonzero(energy > 1e-9)[0]) == [3, 4, 5, 6]
