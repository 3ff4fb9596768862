"""The fixed front end: STFT/ISTFT with pyfftw and the Numba kernels of the engine.

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

import math

import numba
import numpy as np
import pyfftw

from rtsep.constants import HOP, MODEL_BINS, N_BINS, N_FFT

PAD_START = N_FFT - HOP
"""Virtual zeros before the first sample, so that frame 0 ends at sample ``HOP``."""


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
    _overlap_add_all(frames, synthesis_window(real_dtype), out)
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


# ----------------------------------------------------------------------------------
# Numba kernels. Private; each writes into a preallocated ``out`` and allocates nothing.
# ----------------------------------------------------------------------------------

_jit = numba.njit(nogil=True, cache=True, fastmath=False)


@_jit
def _overlap_add_all(frames, window, out):  # pragma: no cover - compiled
    """frames (C, F, N) real, window (N,), out (C, (F-1)*HOP + N) += frames*window."""
    n_channels, n_frames, n = frames.shape
    for c in range(n_channels):
        for f in range(n_frames):
            base = f * HOP
            for i in range(n):
                out[c, base + i] += frames[c, f, i] * window[i]


@_jit
def _ingest(block, start, count, hist, fill):  # pragma: no cover - compiled
    """Copy ``block[start:start+count]`` (n, C) into ``hist[:, PAD_START+fill:]``.

    NaN and +-Inf samples become 0. Returns the number of such samples.
    """
    bad = 0
    n_channels = hist.shape[0]
    for i in range(count):
        for c in range(n_channels):
            v = block[start + i, c]
            if not math.isfinite(v):
                v = 0.0
                bad += 1
            hist[c, PAD_START + fill + i] = v
    return bad


@_jit
def _frame_and_shift(hist, window, out):  # pragma: no cover - compiled
    """out (C, N) = hist (C, N) * window; then shift hist left by HOP (zeros at end)."""
    n_channels, n = hist.shape
    for c in range(n_channels):
        for i in range(n):
            out[c, i] = hist[c, i] * window[i]
        for i in range(n - HOP):
            hist[c, i] = hist[c, i + HOP]
        for i in range(n - HOP, n):
            hist[c, i] = 0.0


@_jit
def _store_frame(spec, slot, spec_ring, mag_ring):  # pragma: no cover - compiled
    """Keep a new frame: spec (C, N_BINS) complex into spec_ring[slot] (S, C, N_BINS),
    and its magnitude (first MODEL_BINS bins) into mag_ring[:, slot192, :]
    (MODEL_BINS, R, C); ``slot`` is the absolute frame index."""
    n_channels, n_bins = spec.shape
    s = slot % spec_ring.shape[0]
    r = slot % mag_ring.shape[1]
    for c in range(n_channels):
        for b in range(n_bins):
            spec_ring[s, c, b] = spec[c, b]
        for b in range(MODEL_BINS):
            mag_ring[b, r, c] = abs(spec[c, b])


@_jit
def _assemble_window(mag_ring, newest, out):  # pragma: no cover - compiled
    """out (1, MODEL_BINS, R, C): frames newest-R+1 .. newest of the ring, oldest first."""
    n_bins, n_slots, n_channels = mag_ring.shape
    for t in range(n_slots):
        src = (newest - n_slots + 1 + t) % n_slots
        for b in range(n_bins):
            for c in range(n_channels):
                out[0, b, t, c] = mag_ring[b, src, c]


@_jit
def _estimates_to_masks(est, t, power, high_band_average, masks):  # pragma: no cover
    """Ratio masks of frame ``t`` of a model window.

    est (n_stems, MODEL_BINS, n_frames, C) stem estimates of one window;
    masks (n_stems, C, N_BINS) out. mask_j = (e_j^p + d/S) / (sum_k e_k^p + d) with
    non-finite or negative estimates treated as 0, so the masks of a bin always sum
    to 1 (stems sum to the mixture) and silence splits evenly. Bins >= MODEL_BINS get
    the mean mask over the model's bins ("average") or 0 ("zeros").
    """
    n_stems = est.shape[0]
    n_channels = est.shape[3]
    n_bins = masks.shape[2]
    delta = 1e-20
    for c in range(n_channels):
        for b in range(MODEL_BINS):
            total = 0.0
            for j in range(n_stems):
                e = est[j, b, t, c]
                if not (e > 0.0) or not math.isfinite(e):
                    e = 0.0
                elif power != 1.0:
                    e = e ** power
                masks[j, c, b] = e
                total += e
            for j in range(n_stems):
                masks[j, c, b] = (masks[j, c, b] + delta / n_stems) / (total + delta)
        for j in range(n_stems):
            fill = 0.0
            if high_band_average:
                acc = 0.0
                for b in range(MODEL_BINS):
                    acc += masks[j, c, b]
                fill = acc / MODEL_BINS
            for b in range(MODEL_BINS, n_bins):
                masks[j, c, b] = fill


@_jit
def _apply_masks(spec_ring, slot, masks, out):  # pragma: no cover - compiled
    """out (n_stems*C, N_BINS) complex = masks (n_stems, C, N_BINS) * spec_ring[slot]."""
    n_stems, n_channels, n_bins = masks.shape
    s = slot % spec_ring.shape[0]
    for j in range(n_stems):
        for c in range(n_channels):
            row = j * n_channels + c
            for b in range(n_bins):
                out[row, b] = spec_ring[s, c, b] * masks[j, c, b]


@_jit
def _overlap_add_hop(frames, window, acc, fifo, write_pos):  # pragma: no cover
    """Add frames (R, N) * window into acc (R, N); move its first HOP samples (now
    final) into the circular fifo (R, cap) at write_pos; shift acc left by HOP."""
    n_rows, n = frames.shape
    cap = fifo.shape[1]
    for r in range(n_rows):
        for i in range(n):
            acc[r, i] += frames[r, i] * window[i]
        for i in range(HOP):
            fifo[r, (write_pos + i) % cap] = acc[r, i]
        for i in range(n - HOP):
            acc[r, i] = acc[r, i + HOP]
        for i in range(n - HOP, n):
            acc[r, i] = 0.0


@_jit
def _emit(fifo, read_pos, count, out, start, n_channels):  # pragma: no cover
    """Read ``count`` samples from the fifo (n_stems*C, cap) into out (n_out, n, C) at
    ``start``: the stems, then the instrumental (sum of all stems but the first)."""
    cap = fifo.shape[1]
    n_stems = fifo.shape[0] // n_channels
    for i in range(count):
        p = (read_pos + i) % cap
        for c in range(n_channels):
            inst = 0.0
            for j in range(n_stems):
                v = fifo[j * n_channels + c, p]
                out[j, start + i, c] = v
                if j > 0:
                    inst += v
            out[n_stems, start + i, c] = inst
