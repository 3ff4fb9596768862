"""Offline separation of whole signals and files.

:func:`separate_array` is the offline twin of the streaming engine: the same frames,
the same model windows (batched), the same masks and overlap-add, computed over the
whole signal at once, and returned without the delay. Streaming output equals it
to float32 rounding (tested).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyfftw

from rtsep.dsp import kernels
from rtsep.dsp.stft import stft, synthesis_window, to_model_layout
from rtsep.constants import (HOP, MODEL_BINS, MODEL_FRAMES, N_BINS, N_CHANNELS, N_FFT, PAD_START,
                             N_OUTPUTS, N_STEMS)
from rtsep.engine import ModelFn, StreamConfig, check_estimates
from rtsep.errors import AudioError

OFFLINE_CONFIG = StreamConfig(lookahead_frames=64, model_hop_frames=64)
"""Offline default: every emitted frame sees >= 64 frames (1.5 s) of past and future."""


def separate_array(model: ModelFn, x: np.ndarray, config: StreamConfig | None = None, *,
                   batch_size: int = 4,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Separate a whole signal.

    Parameters
    ----------
    model : callable
        ``model(mag (B, 1024, 192, 2)) -> est (B, 4, 1024, 192, 2)``.
    x : np.ndarray [shape=(n_samples, 2), dtype=float32]
    config : StreamConfig
        Which frames each model call emits (and so how much context each frame
        gets); :data:`OFFLINE_CONFIG` by default.
    batch_size : int
        Model windows per call.
    progress : callable(done, total), optional
        Called after each batch with the number of model windows done.

    Returns
    -------
    np.ndarray [shape=(5, n_samples, 2), dtype=float32]
        vocals, drums, bass, other, instrumental; aligned with ``x``.
    """
    cfg = config or OFFLINE_CONFIG
    if hasattr(model, "bind"):  # stateful models (the oracle) follow our windows
        model.bind(cfg)
    x = np.ascontiguousarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != N_CHANNELS:
        raise AudioError(f"expected audio of shape (n_samples, 2), got {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        x = np.where(bad, np.float32(0), x)
    n = x.shape[0]
    k, la = cfg.model_hop_frames, cfg.lookahead_frames
    spec = stft(x).astype(np.complex64)                          # (C, F, N_BINS)
    n_frames = spec.shape[1]
    mag = to_model_layout(np.abs(spec[:, :, :MODEL_BINS]))       # (1024, F, C)
    n_calls = -(-(n_frames + la) // k)
    pad_after = n_calls * k - n_frames
    mag = np.concatenate([np.zeros((MODEL_BINS, MODEL_FRAMES - 1, N_CHANNELS), np.float32),
                          mag, np.zeros((MODEL_BINS, pad_after, N_CHANNELS), np.float32)], axis=1)
    power, average = float(cfg.mask_power), cfg.high_band == "average"
    rows = N_STEMS * N_CHANNELS
    acc = np.zeros((rows, (n_frames - 1) * HOP + N_FFT), np.float32)
    window = synthesis_window()
    masks = np.zeros((N_STEMS, N_CHANNELS, N_BINS), np.float32)
    done = 0
    for c0 in range(0, n_calls, batch_size):
        calls = range(c0, min(n_calls, c0 + batch_size))
        # Call c sees the window whose newest frame is g = (c+1)*k - 1; the padding
        # puts frame f in column f + 191, so the window is columns g .. g + 191.
        batch = np.stack([mag[:, (c + 1) * k - 1:(c + 1) * k - 1 + MODEL_FRAMES] for c in calls])
        est = check_estimates(model(batch), len(calls))
        first = max(0, calls[0] * k - la)
        last = min(n_frames - 1, (calls[-1] + 1) * k - 1 - la)
        if last >= first:
            chunk = np.ascontiguousarray(spec[:, first:last + 1].transpose(1, 0, 2))
            masked = np.zeros((last - first + 1, rows, N_BINS), np.complex64)
            for i, c in enumerate(calls):
                g = (c + 1) * k - 1
                for kk in range(k):
                    e = g - la - k + 1 + kk
                    if first <= e <= last:
                        kernels.estimates_to_masks(est[i], cfg.emitted_window_index(kk), power,
                                                average, masks)
                        kernels.apply_masks(chunk, e - first, masks, masked[e - first])
            frames = pyfftw.interfaces.numpy_fft.irfft(masked, n=N_FFT, axis=-1)
            frames = np.ascontiguousarray(frames.astype(np.float32).transpose(1, 0, 2))
            kernels.overlap_add_all(frames, window, acc[:, first * HOP:])
        done += len(calls)
        if progress is not None:
            progress(done, n_calls)
    stems = acc[:, PAD_START:PAD_START + n].reshape(N_STEMS, N_CHANNELS, n)
    out = np.empty((N_OUTPUTS, n, N_CHANNELS), np.float32)
    out[:N_STEMS] = stems.transpose(0, 2, 1)
    out[N_STEMS] = out[1:N_STEMS].sum(axis=0)
    return out


def load_model(spec: str, *, stems: np.ndarray | None = None,
               config: StreamConfig | None = None, threads: int | None = None) -> ModelFn:
    """A model callable from a command-line spec.

    Parameters
    ----------
    spec : str
        ``"oracle"`` (needs ``stems``), a model NAME under ``models/`` or a PATH.
    stems : np.ndarray [shape=(4, n, 2)], optional
        True stems, for the oracle.
    """
    if spec == "oracle":
        if stems is None:
            raise AudioError("--model oracle needs the true stems: give a track folder "
                             "(vocals, drums, bass, other) as input")
        from rtsep.oracle import OracleModel

        return OracleModel(stems, config or OFFLINE_CONFIG)
    from rtsep.runtime import load_runtime  # TensorFlow is imported only here

    return load_runtime(spec, threads=threads)

