"""Spectrogram pictures of a mixture and its separated stems (matplotlib, no screen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtsep.constants import HOP, N_FFT, OUTPUTS, SAMPLE_RATE
from rtsep.dsp.stft import stft


def plot_spectrograms(path, mix: np.ndarray, separated: np.ndarray, *, title: str = "",
                      max_hz: float = 11025.0) -> Path:
    """Write a PNG with the log-magnitude spectrograms of the mixture and each output.

    Parameters
    ----------
    mix : np.ndarray [shape=(n, 2)]
    separated : np.ndarray [shape=(5, n, 2)]
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("mixture", mix)] + [(name, separated[i]) for i, name in enumerate(OUTPUTS)]
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.0 * len(rows)), sharex=True)
    n_bins = int(max_hz / (SAMPLE_RATE / N_FFT))
    for ax, (name, x) in zip(axes, rows):
        mag = np.abs(stft(np.asarray(x, np.float32).mean(axis=1, keepdims=True)))[0, :, :n_bins]
        db = 20 * np.log10(mag.T + 1e-6)
        t_end = mag.shape[0] * HOP / SAMPLE_RATE
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
                  extent=(0, t_end, 0, max_hz / 1000))
        ax.set_ylabel(f"{name}\nkHz")
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
