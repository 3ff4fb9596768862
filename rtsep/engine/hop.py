"""The second half of every hop, shared by the streaming and the offline separator.

For one analysed frame: the model's estimates become ratio masks, the masks are
applied to the mixture's spectrum (its phase reused), the 4 stems x 2 channels are
inverted (8 inverse FFTs, one FFTW plan) and overlap-added with the synthesis window;
the ``HOP`` samples that are then final go into a circular output buffer, from which
:meth:`HopSynthesis.emit` reads the stems and the instrumental.

Masks
-----
The model returns non-negative stem magnitude estimates ``e_j`` for bins
0..1023; the masks are ``m_j = e_j^p / sum_k e_k^p`` (``p`` = ``mask_power``: 1 is
a magnitude ratio mask, 2 a power/Wiener-like mask), so the masks of each bin sum
to one and the stems sum to the mixture. Non-finite or negative estimates count as
0 (non-finite ones are counted). Bins 1024..2048, which the model does not see, get
each stem's mean mask over the model's bins (``high_band="average"``, which also
sums to one) or zero (``"zeros"``: the high band is dropped and the stems no longer
sum to the mixture). The instrumental output is the sum of drums, bass and other.
"""

from __future__ import annotations

import numpy as np
import pyfftw

from rtsep.constants import HOP, N_BINS, N_CHANNELS, N_FFT, N_STEMS
from rtsep.dsp import kernels
from rtsep.dsp.stft import synthesis_window
from rtsep.engine.config import StreamConfig

ROWS = N_STEMS * N_CHANNELS
"""Signals the hop synthesises: stem ``j``, channel ``c`` is row ``j * N_CHANNELS + c``."""


class HopSynthesis:
    """Masks, inverse FFT and overlap-add of one frame at a time, allocation-free.

    Parameters
    ----------
    config : StreamConfig
        Its ``mask_power`` and ``high_band`` make the masks.
    capacity : int
        Samples the circular output buffer holds (per row).

    Attributes
    ----------
    masks : np.ndarray [shape=(N_STEMS, N_CHANNELS, N_BINS), dtype=float32]
        The masks the next :meth:`frame` applies.
    out : np.ndarray [shape=(ROWS, capacity), dtype=float32]
        The circular output buffer.
    write_pos : int
        Where the next frame's final ``HOP`` samples go in ``out``.
    """

    def __init__(self, config: StreamConfig, capacity: int):
        self._power = float(config.mask_power)
        self._average = config.high_band == "average"
        self._window = synthesis_window()
        self.masks = np.zeros((N_STEMS, N_CHANNELS, N_BINS), np.float32)
        self._ifft_in = pyfftw.empty_aligned((ROWS, N_BINS), np.complex64)
        self._ifft_out = pyfftw.empty_aligned((ROWS, N_FFT), np.float32)
        self._ifft = pyfftw.FFTW(self._ifft_in, self._ifft_out, axes=(-1,),
                                 direction="FFTW_BACKWARD",
                                 flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"), threads=1)
        self._ifft_in[:] = 0
        self._acc = np.zeros((ROWS, N_FFT), np.float32)
        self.out = np.zeros((ROWS, int(capacity)), np.float32)
        self.capacity = int(capacity)
        self.write_pos = 0

    def reset(self, write_pos: int = 0) -> None:
        """Forget all audio; the next frame's samples go to ``write_pos``."""
        self._acc[:] = 0
        self.out[:] = 0
        self.write_pos = int(write_pos)

    def set_masks(self, est: np.ndarray, t: int) -> int:
        """Masks from frame ``t`` of one window's estimates.

        Parameters
        ----------
        est : np.ndarray [shape=(N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS), dtype=float32]
        t : int
            The frame's index in the window.

        Returns
        -------
        int
            Non-finite estimates of the frame (each counted as 0).
        """
        return kernels.estimates_to_masks(est, t, self._power, self._average, self.masks)

    def frame(self, spectra: np.ndarray, slot: int) -> None:
        """Mask frame ``slot`` of ``spectra``, invert it, overlap-add one hop into ``out``.

        Parameters
        ----------
        spectra : np.ndarray [shape=(n_slots, N_CHANNELS, N_BINS), dtype=complex64]
            The mixture's frames; ``slot`` is taken modulo ``n_slots`` (a ring).
        slot : int
        """
        kernels.apply_masks(spectra, slot, self.masks, self._ifft_in)
        self._ifft()
        kernels.overlap_add_hop(self._ifft_out, self._window, self._acc, self.out, self.write_pos)
        self.write_pos = (self.write_pos + HOP) % self.capacity

    def emit(self, read_pos: int, count: int, out: np.ndarray, start: int) -> None:
        """Copy ``count`` samples from ``out`` at ``read_pos`` into the five outputs.

        Parameters
        ----------
        read_pos, count : int
            Position in the circular buffer (modulo ``capacity``) and length.
        out : np.ndarray [shape=(N_OUTPUTS, n, N_CHANNELS), dtype=float32]
            The stems, then the instrumental (all stems but vocals); written at ``start``.
        start : int
        """
        kernels.emit(self.out, read_pos, count, out, start, N_CHANNELS)
