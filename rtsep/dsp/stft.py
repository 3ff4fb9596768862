"""The fixed front end: windows, STFT/ISTFT with pyfftw, the one layout conversion.

This module knows nothing of TensorFlow or JACK. Arrays inside the engine are
channel-first: ``(nb_channels, nb_frames, nb_bins)`` for spectrograms and
``(nb_channels, nb_samples)`` for signals; audio in files and at the public API is
``(nb_samples, nb_channels)``. The one conversion to the Keras layout
``(nb_bins, nb_frames, nb_channels)`` is :func:`to_model_layout`.

Framing
-------
Frame ``f`` covers samples ``[f*HOP - (N_FFT - HOP), f*HOP + HOP)`` of the signal,
zeros outside it. Frame ``f`` is therefore complete as soon as sample
``f*HOP + HOP - 1`` has arrived, which is what makes the streaming engine's
latency exact. A signal of ``n`` samples has ``ceil(n / HOP) + 3`` frames, the last
ones covering its tail.

Windows
-------
Analysis: periodic Hann. Synthesis: the Hann window divided by the sum of the
squared, hop-shifted Hann windows (1.5 at 75 % overlap), so that analysis followed
by synthesis and overlap-add reconstructs exactly (weighted overlap-add).
"""

from __future__ import annotations

import numpy as np
import pyfftw

from rtsep.constants import HOP, MODEL_BINS, N_BINS, N_FFT, PAD_START
from rtsep.dsp.kernels import overlap_add_all


def analysis_window(dtype=np.float32) -> np.ndarray:
    """Periodic Hann window.

    Returns
    -------
    np.ndarray [shape=(N_FFT,), dtype=dtype]
    """
    n = np.arange(N_FFT, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)).astype(dtype)


def synthesis_window(dtype=np.float32) -> np.ndarray:
    """Synthesis window that makes analysis + overlap-add an exact identity.

    Checks its own normalisation: the sum of ``analysis * synthesis`` over all hop
    shifts must be 1 everywhere.

    Returns
    -------
    np.ndarray [shape=(N_FFT,), dtype=dtype]
    """
    wa = analysis_window(np.float64)
    denom = np.zeros(HOP, dtype=np.float64)
    for k in range(N_FFT // HOP):
        denom += wa[k * HOP:(k + 1) * HOP] ** 2
    ws = wa / np.tile(denom, N_FFT // HOP)
    cola = np.zeros(HOP)
    for k in range(N_FFT // HOP):
        cola += (wa * ws)[k * HOP:(k + 1) * HOP]
    if not np.allclose(cola, 1.0, atol=1e-12):  # pragma: no cover - a broken constant
        raise AssertionError("analysis/synthesis windows do not overlap-add to 1")
    return ws.astype(dtype)


def n_frames_for(n_samples: int) -> int:
    """Number of frames of a signal of ``n_samples`` samples: ``ceil(n/HOP) + 3``."""
    return -(-int(n_samples) // HOP) + (N_FFT // HOP - 1)


def _as_channels_first(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected audio of shape (n_samples, n_channels), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return np.ascontiguousarray(x.T)


def frame_signal(x: np.ndarray) -> np.ndarray:
    """Windowed frames of a signal, with the module's framing.

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples, n_channels), dtype=float32|float64]

    Returns
    -------
    np.ndarray [shape=(n_channels, n_frames, N_FFT), same float dtype]
    """
    xc = _as_channels_first(x)
    n_channels, n = xc.shape
    n_frames = n_frames_for(n)
    padded = np.zeros((n_channels, (n_frames - 1) * HOP + N_FFT), dtype=xc.dtype)
    padded[:, PAD_START:PAD_START + n] = xc
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, ::HOP]
    return frames * analysis_window(xc.dtype)


def stft(x: np.ndarray) -> np.ndarray:
    """One-sided STFT (Hann window 4096, hop 1024, no normalisation).

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples, n_channels), dtype=float32|float64]

    Returns
    -------
    np.ndarray [shape=(n_channels, n_frames, N_BINS), dtype=complex64|complex128]
        ``n_frames = ceil(n_samples / HOP) + 3``.
    """
    frames = frame_signal(x)
    return pyfftw.interfaces.numpy_fft.rfft(frames, n=N_FFT, axis=-1)


def istft(spec: np.ndarray, n_samples: int) -> np.ndarray:
    """Inverse of :func:`stft` (weighted overlap-add).

    Parameters
    ----------
    spec : np.ndarray [shape=(n_channels, n_frames, N_BINS), dtype=complex]
    n_samples : int
        Length of the signal to return.

    Returns
    -------
    np.ndarray [shape=(n_samples, n_channels), dtype=float32|float64]
    """
    n_channels, n_frames, n_bins = spec.shape
    if n_bins != N_BINS:
        raise ValueError(f"expected {N_BINS} bins, got {n_bins}")
    frames = pyfftw.interfaces.numpy_fft.irfft(spec, n=N_FFT, axis=-1)
    real_dtype = frames.dtype
    out = np.zeros((n_channels, (n_frames - 1) * HOP + N_FFT), dtype=real_dtype)
    overlap_add_all(frames, synthesis_window(real_dtype), out)
    end = PAD_START + n_samples
    if end > out.shape[1]:
        raise ValueError(f"{n_frames} frames cannot give {n_samples} samples")
    return np.ascontiguousarray(out[:, PAD_START:end].T)


def to_model_layout(mag: np.ndarray) -> np.ndarray:
    """Channel-first magnitudes to the Keras layout.

    Parameters
    ----------
    mag : np.ndarray [shape=(n_channels, n_frames, n_bins)]

    Returns
    -------
    np.ndarray [shape=(n_bins, n_frames, n_channels)], a contiguous copy.
    """
    return np.ascontiguousarray(np.transpose(mag, (2, 1, 0)))


def model_magnitudes(x: np.ndarray) -> np.ndarray:
    """Magnitudes exactly as the engine feeds them to a model.

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples, 2), dtype=float32]

    Returns
    -------
    np.ndarray [shape=(MODEL_BINS, n_frames, 2), dtype=float32]
    """
    spec = stft(np.asarray(x, dtype=np.float32))
    return to_model_layout(np.abs(spec[:, :, :MODEL_BINS]).astype(np.float32))
