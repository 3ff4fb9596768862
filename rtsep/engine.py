"""Streaming overlap-add separator around any callable model.

Push stereo blocks of any length; get the same number of samples back for each
output (vocals, drums, bass, other, instrumental), delayed by a fixed latency.

Latency
-------
With ``L`` = ``lookahead_frames`` and ``K`` = ``model_hop_frames``::

    latency_samples = (N_FFT - 1) + (L + K - 1) * HOP = 4095 + (L + K - 1) * 1024

Why: frame ``f`` covers input samples ``[f*HOP - 3072, f*HOP + 1024)`` and is
complete once sample ``f*HOP + 1023`` has arrived. Output sample ``s`` needs the
four frames that cover it, the last of which is complete 4095 samples after ``s``
when ``s`` is the first sample of a hop. The model runs when frame ``g`` completes
with ``(g + 1) % K == 0`` and emits masks for the ``K`` frames ``g-L-K+1 .. g-L``
(the frame ``g - L`` sees ``L`` frames of future context), so the oldest of them
waits ``(L + K - 1)`` more hops. The figure is exact (an identity model returns the
input delayed by exactly that many samples) and assumes the model's compute time is
covered by whoever drives the engine (the live client adds a ring buffer for it).

Masks
-----
The model returns non-negative stem magnitude estimates ``e_j`` for bins
0..1023; the engine uses ``m_j = e_j^p / sum_k e_k^p`` (``p`` = ``mask_power``: 1 is
a magnitude ratio mask, 2 a power/Wiener-like mask), so the masks of each bin sum
to one and the stems sum to the mixture. Bins 1024..2048, which the model does not
see, get each stem's mean mask over the model's bins (``high_band="average"``,
which also sums to one) or zero (``"zeros"``: the high band is dropped and the
stems no longer sum to the mixture). The mixture's phase is reused for every stem.
The instrumental output is the sum of drums, bass and other.

A hop (one new frame) allocates nothing in steady state: every buffer is made in
the constructor, FFTW plans included.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

import numpy as np
import pyfftw

from rtsep.dsp import kernels
from rtsep.dsp.stft import analysis_window, synthesis_window
from rtsep.constants import (HOP, MODEL_BINS, MODEL_FRAMES, N_BINS, N_CHANNELS, N_FFT, PAD_START,
                             N_OUTPUTS, N_STEMS)
from rtsep.errors import ConfigError, ModelError

ModelFn = Callable[[np.ndarray], np.ndarray]
"""``model(mag (B, 1024, 192, 2) float32) -> est (B, 4, 1024, 192, 2)``."""


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """Options of the streaming engine (the front end itself is fixed).

    Attributes
    ----------
    lookahead_frames : int
        Frames of future context the model sees beyond the frames it emits (0..191).
    model_hop_frames : int
        The model runs every this many new frames (1 = every frame).
    high_band : "average" | "zeros"
        How masks are extended to bins 1024..2048.
    mask_power : float
        Exponent applied to estimates before normalising them into masks.
    """

    lookahead_frames: int = 0
    model_hop_frames: int = 1
    high_band: Literal["average", "zeros"] = "average"
    mask_power: float = 1.0

    def __post_init__(self):
        if not isinstance(self.lookahead_frames, int) or self.lookahead_frames < 0:
            raise ConfigError(f"lookahead_frames must be an integer >= 0, got {self.lookahead_frames!r}")
        if not isinstance(self.model_hop_frames, int) or self.model_hop_frames < 1:
            raise ConfigError(f"model_hop_frames must be an integer >= 1, got {self.model_hop_frames!r}")
        if self.lookahead_frames + self.model_hop_frames > MODEL_FRAMES:
            raise ConfigError(
                f"lookahead_frames + model_hop_frames must be <= {MODEL_FRAMES} (the model window), "
                f"got {self.lookahead_frames} + {self.model_hop_frames}")
        if self.high_band not in ("average", "zeros"):
            raise ConfigError(f"high_band must be 'average' or 'zeros', got {self.high_band!r}")
        if not (self.mask_power > 0):
            raise ConfigError(f"mask_power must be > 0, got {self.mask_power!r}")

    @property
    def latency_samples(self) -> int:
        """Exact latency in samples: ``4095 + (lookahead + model_hop - 1) * 1024``."""
        return N_FFT - 1 + (self.lookahead_frames + self.model_hop_frames - 1) * HOP

    def emitted_window_index(self, k: int) -> int:
        """Index in the model window (0..191) of the ``k``-th frame a call emits."""
        return MODEL_FRAMES - self.lookahead_frames - self.model_hop_frames + k


def check_estimates(est, batch: int) -> np.ndarray:
    """Validate a model's output once and return it as a float32 array.

    Returns
    -------
    np.ndarray [shape=(batch, N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS), float32]
    """
    est = np.asarray(est)
    want = (batch, N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS)
    if est.shape != want:
        raise ModelError(f"the model returned an array of shape {est.shape}, expected {want} "
                         "(batch, stems, bins, frames, channels)")
    if est.dtype != np.float32:
        est = est.astype(np.float32)
    return est


class StreamingSeparator:
    """Sample-synchronous streaming separator.

    Parameters
    ----------
    model : callable
        ``model(mag) -> est``; ``mag`` float32 (1, 1024, 192, 2), ``est``
        (1, 4, 1024, 192, 2) non-negative stem magnitude estimates.
    config : StreamConfig

    Attributes
    ----------
    latency_samples : int
        Output sample ``i`` corresponds to input sample ``i - latency_samples``.
    nonfinite_count : int
        NaN/Inf input samples replaced by 0 so far.
    frames, model_calls : int
        Frames analysed and model calls made so far.
    """

    def __init__(self, model: ModelFn, config: StreamConfig | None = None):
        self.model = model
        self.config = config or StreamConfig()
        if hasattr(model, "bind"):  # stateful models (the oracle) follow our windows
            model.bind(self.config)
        cfg = self.config
        self.latency_samples = cfg.latency_samples
        self._power = float(cfg.mask_power)
        self._average = cfg.high_band == "average"
        k, la = cfg.model_hop_frames, cfg.lookahead_frames
        rows = N_STEMS * N_CHANNELS

        self._wa = analysis_window()
        self._ws = synthesis_window()
        self._hist = np.zeros((N_CHANNELS, N_FFT), np.float32)
        # FFTW plans, built once: 2 forward transforms, 8 inverse transforms per hop.
        self._fft_in = pyfftw.empty_aligned((N_CHANNELS, N_FFT), np.float32)
        self._fft_out = pyfftw.empty_aligned((N_CHANNELS, N_BINS), np.complex64)
        self._fft = pyfftw.FFTW(self._fft_in, self._fft_out, axes=(-1,),
                                flags=("FFTW_MEASURE",), threads=1)
        self._ifft_in = pyfftw.empty_aligned((rows, N_BINS), np.complex64)
        self._ifft_out = pyfftw.empty_aligned((rows, N_FFT), np.float32)
        self._ifft = pyfftw.FFTW(self._ifft_in, self._ifft_out, axes=(-1,),
                                 direction="FFTW_BACKWARD",
                                 flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"), threads=1)
        self._fft_in[:] = 0
        self._ifft_in[:] = 0

        self._spec_ring = np.zeros((la + k + 1, N_CHANNELS, N_BINS), np.complex64)
        self._mag_ring = np.zeros((MODEL_BINS, MODEL_FRAMES, N_CHANNELS), np.float32)
        self._window = np.zeros((1, MODEL_BINS, MODEL_FRAMES, N_CHANNELS), np.float32)
        self._est = np.zeros((N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS), np.float32)
        self._masks = np.zeros((N_STEMS, N_CHANNELS, N_BINS), np.float32)
        self._acc = np.zeros((rows, N_FFT), np.float32)
        self._prefill = self.latency_samples - PAD_START
        self._fifo = np.zeros((rows, self._prefill + (k + 2) * HOP), np.float32)
        self.reset()

    # -- state -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all audio (as if just constructed); the latency stays the same."""
        self._hist[:] = 0
        self._spec_ring[:] = 0
        self._mag_ring[:] = 0
        self._acc[:] = 0
        self._fifo[:] = 0
        self._fill = 0
        self._read_pos = 0
        self._write_pos = self._prefill  # the fifo starts with `prefill` zeros
        self.frames = 0
        self.model_calls = 0
        self.nonfinite_count = 0
        self.nonfinite_estimates = 0
        if hasattr(self.model, "reset"):
            self.model.reset()

    # -- streaming -------------------------------------------------------------------
    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Push one block, get the same number of delayed, separated samples.

        Parameters
        ----------
        block : np.ndarray [shape=(n, 2), dtype=float32], n >= 1
        out : np.ndarray [shape=(5, n, 2), dtype=float32], optional
            Written in place when given (no allocation).

        Returns
        -------
        np.ndarray [shape=(5, n, 2), dtype=float32]
            vocals, drums, bass, other, instrumental.
        """
        if block.ndim != 2 or block.shape[1] != N_CHANNELS:
            raise ValueError(f"block must have shape (n, {N_CHANNELS}), got {block.shape}")
        n = block.shape[0]
        if out is None:
            out = np.empty((N_OUTPUTS, n, N_CHANNELS), np.float32)
        elif out.shape != (N_OUTPUTS, n, N_CHANNELS):
            raise ValueError(f"out must have shape {(N_OUTPUTS, n, N_CHANNELS)}, got {out.shape}")
        i = 0
        while i < n:
            m = min(n - i, HOP - self._fill)
            self.nonfinite_count += kernels.ingest(block, i, m, self._hist, self._fill)
            self._fill += m
            if self._fill == HOP:
                self._hop()
                self._fill = 0
            kernels.emit(self._fifo, self._read_pos, m, out, i, N_CHANNELS)
            self._read_pos = (self._read_pos + m) % self._fifo.shape[1]
            i += m
        return out

    def _hop(self) -> None:
        """A full hop of input has arrived: analyse one frame, maybe run the model."""
        kernels.frame_and_shift(self._hist, self._wa, self._fft_in)
        self._fft()
        g = self.frames
        kernels.store_frame(self._fft_out, g, self._spec_ring, self._mag_ring)
        self.frames = g + 1
        cfg = self.config
        if self.frames % cfg.model_hop_frames == 0:
            self._run_model(g)

    def _run_model(self, g: int) -> None:
        cfg = self.config
        kernels.assemble_window(self._mag_ring, g, self._window)
        est = self.model(self._window)
        if self.model_calls == 0:
            est = check_estimates(est, 1)
        self.model_calls += 1
        est = est[0]
        for k in range(cfg.model_hop_frames):
            e = g - cfg.lookahead_frames - cfg.model_hop_frames + 1 + k
            if e < 0:
                continue  # a frame before the stream started: nothing to emit
            t = cfg.emitted_window_index(k)
            kernels.estimates_to_masks(est, t, self._power, self._average, self._masks)
            self.synthesize_frame(e)

    def synthesize_frame(self, e: int) -> None:
        """Mask frame ``e`` with ``self._masks``, invert, overlap-add one hop."""
        kernels.apply_masks(self._spec_ring, e, self._masks, self._ifft_in)
        self._ifft()
        kernels.overlap_add_hop(self._ifft_out, self._ws, self._acc, self._fifo, self._write_pos)
        self._write_pos = (self._write_pos + HOP) % self._fifo.shape[1]

    def hop_without_model(self, block: np.ndarray, out: np.ndarray,
                          masks: np.ndarray | None = None) -> None:
        """One streaming hop with fixed masks instead of a model (for benchmarks).

        Ingests one hop of input, analyses a frame, masks it for the 4 stems,
        inverts (8 inverse FFTs), overlap-adds and emits one hop of output: the DSP
        cost of a hop, the model excluded.

        Parameters
        ----------
        block : np.ndarray [shape=(HOP, 2), float32]
        out : np.ndarray [shape=(5, HOP, 2), float32]
        masks : np.ndarray [shape=(4, 2, N_BINS), float32], optional
            Masks to use from now on; the current ones when omitted.
        """
        if masks is not None:
            self._masks[...] = masks
        self.nonfinite_count += kernels.ingest(block, 0, HOP, self._hist, 0)
        kernels.frame_and_shift(self._hist, self._wa, self._fft_in)
        self._fft()
        g = self.frames
        kernels.store_frame(self._fft_out, g, self._spec_ring, self._mag_ring)
        self.frames = g + 1
        self.synthesize_frame(g)
        kernels.emit(self._fifo, self._read_pos, HOP, out, 0, N_CHANNELS)
        self._read_pos = (self._read_pos + HOP) % self._fifo.shape[1]
