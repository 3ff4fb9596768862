"""Oracle estimator: ideal ratio masks from known stems, shaped like a model.

It makes the whole mask path run end to end without a trained network, and it is
the upper bound every trained model is measured against (same front end, same
mask extension to the high band, same mixture phase).
"""

from __future__ import annotations

import numpy as np

from rtsep.dsp.stft import model_magnitudes
from rtsep.constants import MODEL_FRAMES, N_STEMS
from rtsep.engine.config import StreamConfig


class OracleModel:
    """A stateful, model-shaped callable returning the true stem magnitudes.

    Engines call their model in a fixed order: call ``c`` (counting from 0, over all
    batch items) sees the window whose newest frame is ``(c + 1) * K - 1`` with
    ``K`` the config's ``model_hop_frames``. The oracle follows that count, so it
    must be used by exactly one engine or :func:`rtsep.engine.offline.separate_array` at a
    time, from its start; both call :meth:`bind` with their config (so the oracle
    knows ``K``) and :meth:`reset` before the first window.

    Parameters
    ----------
    stems : np.ndarray [shape=(4, n_samples, 2), dtype=float32]
        The true stems, in ``STEMS`` order, aligned with the engine's input.
    config : StreamConfig
    """

    def __init__(self, stems: np.ndarray, config: StreamConfig | None = None):
        stems = np.asarray(stems, np.float32)
        if stems.ndim != 3 or stems.shape[0] != N_STEMS or stems.shape[2] != 2:
            raise ValueError(f"stems must have shape (4, n_samples, 2), got {stems.shape}")
        self.config = config or StreamConfig()
        mags = np.stack([model_magnitudes(s) for s in stems])  # (4, 1024, F, 2)
        n_frames = mags.shape[2]
        # Zero frames before the start (a full window) and after the end.
        pad_after = 2 * MODEL_FRAMES  # enough for any lookahead + model hop (<= 192)
        self._mags = np.concatenate(
            [np.zeros((N_STEMS, mags.shape[1], MODEL_FRAMES, 2), np.float32), mags,
             np.zeros((N_STEMS, mags.shape[1], pad_after, 2), np.float32)], axis=2)
        self.n_frames = n_frames
        self.calls = 0

    def reset(self) -> None:
        """Rewind to the start of the signal."""
        self.calls = 0

    def bind(self, config: StreamConfig) -> None:
        """Follow the windows of an engine running with ``config``; rewinds."""
        self.config = config
        self.reset()

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """The true stem magnitudes of the next ``B`` windows (the input is not read).

        Parameters
        ----------
        mag : np.ndarray [shape=(B, 1024, 192, 2)]

        Returns
        -------
        np.ndarray [shape=(B, 4, 1024, 192, 2), dtype=float32]
        """
        batch = mag.shape[0]
        out = np.empty((batch, N_STEMS) + self._mags.shape[1:2] + (MODEL_FRAMES, 2), np.float32)
        k = self.config.model_hop_frames
        for b in range(batch):
            newest = (self.calls + 1) * k - 1
            start = newest - MODEL_FRAMES + 1 + MODEL_FRAMES  # shifted by the zero padding
            if start + MODEL_FRAMES > self._mags.shape[2]:  # past the padded end
                out[b] = 0.0
            else:
                out[b] = self._mags[:, :, start:start + MODEL_FRAMES]
            self.calls += 1
        return out
