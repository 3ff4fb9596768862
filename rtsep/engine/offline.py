"""Offline separation of a whole signal: the streaming engine's twin, batched; and of
a signal of any length in blocks, in bounded memory (:func:`separate_blocks`).

:func:`separate_array` analyses the whole signal at once (:func:`rtsep.dsp.stft.stft`),
calls the model on the same windows the streaming engine would (several per call),
and synthesises every frame with the same hop code (:class:`rtsep.engine.hop.HopSynthesis`:
masks, mixture phase, inverse FFT, overlap-add), returning the result without the
delay. Streaming output equals it to float32 rounding (tested).
"""

from __future__ import annotations

import dataclasses

from collections.abc import Iterable
from typing import Callable

import numpy as np

from rtsep.constants import HOP, MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_OUTPUTS, PAD_START
from rtsep.dsp.stft import stft, to_model_layout
from rtsep.engine.config import StreamConfig
from rtsep.engine.hop import HopSynthesis
from rtsep.engine.model import ModelFn, as_model, check_estimates, is_streaming
from rtsep.errors import AudioError

OFFLINE_CONFIG = StreamConfig(lookahead_frames=64, model_hop_frames=64)
"""Offline default: every emitted frame sees >= 64 frames (1.5 s) of past and future."""

OFFLINE_STREAMING_CONFIG = StreamConfig(lookahead_frames=0, model_hop_frames=64)
"""Offline default of a streaming (causal) model: 64 frames per step, no look-ahead."""


def offline_config(model, **overrides) -> StreamConfig:
    """The offline default for ``model``: :data:`OFFLINE_STREAMING_CONFIG` for a
    streaming model, else :data:`OFFLINE_CONFIG` (also for ``model`` None: the oracle),
    with the fields given in ``overrides`` that are not None replaced."""
    base = OFFLINE_STREAMING_CONFIG if is_streaming(model) else OFFLINE_CONFIG
    given = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **given) if given else base


def _padded_magnitudes(spec: np.ndarray, n_calls: int, k: int) -> np.ndarray:
    """The model's input over the whole signal, with a window of zeros before it.

    Frame ``f`` of ``spec`` (C, F, N_BINS) lands in column ``f + MODEL_FRAMES - 1``, and
    zeros follow it up to ``n_calls * k`` frames, so call ``c`` sees columns
    ``(c+1)*k - 1 .. (c+1)*k - 1 + MODEL_FRAMES - 1``.

    Returns
    -------
    np.ndarray [shape=(MODEL_BINS, MODEL_FRAMES - 1 + n_calls * k, C), dtype=float32]
    """
    mag = to_model_layout(np.abs(spec[:, :, :MODEL_BINS]))          # (1024, F, C)
    pad_after = n_calls * k - spec.shape[1]
    return np.concatenate([np.zeros((MODEL_BINS, MODEL_FRAMES - 1, N_CHANNELS), np.float32), mag,
                           np.zeros((MODEL_BINS, pad_after, N_CHANNELS), np.float32)], axis=1)


def separate_array(model: ModelFn, x: np.ndarray, config: StreamConfig | None = None, *,
                   batch_size: int = 4,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Separate a whole signal.

    Parameters
    ----------
    model : Model or callable
        ``model(mag (B, 1024, 192, 2)) -> est (B, 4, 1024, 192, 2)``
        (:mod:`rtsep.engine.model`).
    x : np.ndarray [shape=(n_samples, 2), dtype=float32]
        NaN and infinite samples count as 0.
    config : StreamConfig
        Which frames each model call emits (and so how much context each frame
        gets); :func:`offline_config` of the model by default. A streaming model is
        stepped through the signal ``model_hop_frames`` frames at a time.
    batch_size : int
        Model windows per call (a streaming model takes one step at a time).
    progress : callable(done, total), optional
        Called after each batch with the number of model windows done.

    Returns
    -------
    np.ndarray [shape=(5, n_samples, 2), dtype=float32]
        vocals, drums, bass, other, instrumental; aligned with ``x``.
    """
    cfg = config or offline_config(model)
    streaming = is_streaming(model)
    m = as_model(model)
    m.bind(cfg)  # stateful models (the oracle) follow our windows
    x = np.ascontiguousarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != N_CHANNELS:
        raise AudioError(f"expected audio of shape (n_samples, 2), got {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        x = np.where(bad, np.float32(0), x)
    n = x.shape[0]
    k, la = cfg.model_hop_frames, cfg.lookahead_frames
    spec = stft(x).astype(np.complex64)                              # (C, F, N_BINS)
    n_frames = spec.shape[1]
    n_calls = -(-(n_frames + la) // k)
    mag = _padded_magnitudes(spec, n_calls, k)
    frames = np.ascontiguousarray(spec.transpose(1, 0, 2))           # (F, C, N_BINS)
    del spec
    # frame f's final hop lands at f * HOP: the signal starts PAD_START samples in
    synth = HopSynthesis(cfg, n_frames * HOP)
    if streaming:
        _step_through(m, mag, frames, synth, n_calls, k, progress)
    else:
        _call_windows(m, mag, frames, synth, n_calls, cfg, batch_size, progress)
    out = np.empty((N_OUTPUTS, n, N_CHANNELS), np.float32)
    synth.emit(PAD_START, n, out, 0)
    return out


def separate_blocks(model: ModelFn, blocks: Iterable[np.ndarray], sink: Callable[[np.ndarray], None],
                    config: StreamConfig | None = None, *,
                    progress: Callable[[int], None] | None = None) -> int:
    """Separate a signal that arrives in blocks, in memory that does not grow with it.

    The streaming engine (:class:`rtsep.engine.streaming.StreamingSeparator`) with the
    offline config: the output equals :func:`separate_array`'s (float32 rounding), but
    only a block and the engine's fixed buffers are held, so an hour's recording takes
    the memory of a minute's. A window model runs one window per call (no batching).

    Parameters
    ----------
    model : Model or callable
        As :func:`separate_array`.
    blocks : iterable of np.ndarray [shape=(n, 2), dtype=float32]
        The signal, in blocks of any sizes.
    sink : callable(np.ndarray [shape=(5, m, 2), dtype=float32])
        Given the outputs (vocals, drums, bass, other, instrumental) in order, aligned
        with the input (the engine's latency removed), in blocks of any size; in all
        as many samples as the input had.
    config : StreamConfig
        :func:`offline_config` of the model by default.
    progress : callable(samples_done), optional
        Called after each input block.

    Returns
    -------
    int
        Samples separated (per channel).
    """
    from rtsep.engine.streaming import StreamingSeparator

    sep = StreamingSeparator(model, config or offline_config(model))
    skip = sep.latency_samples  # the first outputs precede the signal
    n_in = n_out = 0

    def push(block: np.ndarray) -> None:
        nonlocal skip, n_out
        out = sep.process(block)
        drop = min(skip, out.shape[1])
        skip -= drop
        keep = min(out.shape[1] - drop, n_in - n_out)
        if keep > 0:
            sink(out[:, drop:drop + keep])
            n_out += keep

    for block in blocks:
        n_in += block.shape[0]
        push(block)
        if progress is not None:
            progress(n_in)
    tail = np.zeros((HOP, N_CHANNELS), np.float32)
    while n_out < n_in:  # the last samples wait for the latency's worth of silence
        push(tail)
    return n_in


def _call_windows(model, mag, frames, synth, n_calls, cfg, batch_size, progress) -> None:
    """A window model over the signal: ``batch_size`` windows per call, frames in order.

    ``mag`` is :func:`_padded_magnitudes`; call ``c`` sees the window whose newest frame
    is ``g = (c+1)*k - 1`` and emits frames ``g - L - k + 1 .. g - L``.
    """
    n_frames = frames.shape[0]
    k, la = cfg.model_hop_frames, cfg.lookahead_frames
    for c0 in range(0, n_calls, batch_size):
        calls = range(c0, min(n_calls, c0 + batch_size))
        batch = np.stack([mag[:, (c + 1) * k - 1:(c + 1) * k - 1 + MODEL_FRAMES] for c in calls])
        est = check_estimates(model(batch), len(calls))
        for i, c in enumerate(calls):
            for kk in range(k):
                e = (c + 1) * k - 1 - la - k + 1 + kk  # frames in order, each once
                if 0 <= e < n_frames:
                    synth.set_masks(est[i], cfg.emitted_window_index(kk))
                    synth.frame(frames, e)
        if progress is not None:
            progress(calls[-1] + 1, n_calls)


def _step_through(model, mag, frames, synth, n_calls, k, progress) -> None:
    """A streaming model over the signal, ``k`` frames per step, frames in order.

    ``mag`` is :func:`_padded_magnitudes` (frame ``f`` in column ``f + MODEL_FRAMES - 1``).
    """
    n_frames = frames.shape[0]
    for c in range(n_calls):
        first = c * k + MODEL_FRAMES - 1
        est = model.step(np.ascontiguousarray(mag[None, :, first:first + k]))
        if c == 0:
            est = check_estimates(est, 1, k)
        for kk in range(k):
            e = c * k + kk
            if e < n_frames:
                synth.set_masks(est[0], kk)
                synth.frame(frames, e)
        if progress is not None:
            progress(c + 1, n_calls)
