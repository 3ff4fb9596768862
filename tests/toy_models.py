"""Toy models and a streaming driver shared by the engine tests."""

import numpy as np


def routing_model(stem: int):
    """Every bin goes to one stem: that stem's output is the input, delayed."""
    def model(mag):
        out = np.zeros((mag.shape[0], 4) + mag.shape[1:], np.float32)
        out[:, stem] = mag + 1e-3  # + 1e-3: silent bins also go to `stem`
        return out
    return model


def nonlinear_model(mag):
    """A deterministic model whose masks depend on the whole window (frame index too)."""
    b, nb, nf, nc = mag.shape
    ramp = np.linspace(0.5, 2.0, nf, dtype=np.float32)[None, None, :, None]
    smooth = np.cumsum(mag, axis=2) / np.arange(1, nf + 1, dtype=np.float32)[None, None, :, None]
    est = np.stack([mag * ramp, np.sqrt(mag + 1e-6), smooth, mag[:, ::-1] * 0.3], axis=1)
    return est.astype(np.float32)


def stream(engine, x, sizes):
    """Push x through the engine in blocks of the given sizes (cycled); flush the latency."""
    d = engine.latency_samples
    xx = np.concatenate([x, np.zeros((d, 2), np.float32)])
    outs, i, k = [], 0, 0
    while i < len(xx):
        m = min(sizes[k % len(sizes)], len(xx) - i)
        outs.append(engine.process(xx[i:i + m]).copy())
        i, k = i + m, k + 1
    return np.concatenate(outs, axis=1)
