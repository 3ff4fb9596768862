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

A streaming model (:func:`rtsep.engine.model.is_streaming`) is given only the ``K``
frames of each hop (``L`` must be 0): the cost of a hop is then that of its new
frames, not of a whole window.

Masks, phase, inverse FFT and overlap-add are :mod:`rtsep.engine.hop`'s, shared with
the offline separator (:mod:`rtsep.engine.offline`).

A hop (one new frame) allocates nothing in steady state: every buffer is made in
the constructor, FFTW plans included.
"""

from __future__ import annotations

import numpy as np
import pyfftw

from rtsep.constants import (HOP, MODEL_BINS, MODEL_FRAMES, N_BINS, N_CHANNELS, N_FFT,
                             N_OUTPUTS, PAD_START)
from rtsep.dsp import kernels
from rtsep.dsp.stft import analysis_window
from rtsep.engine.config import StreamConfig
from rtsep.engine.hop import HopSynthesis
from rtsep.engine.model import ModelFn, as_model, check_estimates, is_streaming


class StreamingSeparator:
    """Sample-synchronous streaming separator.

    Parameters
    ----------
    model : Model or callable
        ``model(mag) -> est`` (:mod:`rtsep.engine.model`); ``mag`` float32
        (1, 1024, 192, 2), ``est`` (1, 4, 1024, 192, 2) non-negative stem magnitude
        estimates. Its ``bind`` and ``reset`` hooks are called when it has them. A
        streaming model is stepped with the ``K`` new frames instead.
    config : StreamConfig

    Attributes
    ----------
    latency_samples : int
        Output sample ``i`` corresponds to input sample ``i - latency_samples``.
    nonfinite_count : int
        NaN/Inf input samples replaced by 0 so far.
    nonfinite_estimates : int
        NaN/Inf model estimates (of the frames emitted) counted as 0 so far.
    frames, model_calls : int
        Frames analysed and model calls made so far.
    """

    def __init__(self, model: ModelFn, config: StreamConfig | None = None):
        self.model = model
        self.config = config or StreamConfig()
        self._model = as_model(model)
        self._model.bind(self.config)  # stateful models (the oracle) follow our windows
        cfg = self.config
        self.latency_samples = cfg.latency_samples
        k, la = cfg.model_hop_frames, cfg.lookahead_frames

        self._wa = analysis_window()
        self._hist = np.zeros((N_CHANNELS, N_FFT), np.float32)
        # FFTW plan, built once: 2 forward transforms per hop (the inverse ones: HopSynthesis)
        self._fft_in = pyfftw.empty_aligned((N_CHANNELS, N_FFT), np.float32)
        self._fft_out = pyfftw.empty_aligned((N_CHANNELS, N_BINS), np.complex64)
        self._fft = pyfftw.FFTW(self._fft_in, self._fft_out, axes=(-1,),
                                flags=("FFTW_MEASURE",), threads=1)
        self._fft_in[:] = 0

        self._spec_ring = np.zeros((la + k + 1, N_CHANNELS, N_BINS), np.complex64)
        self._mag_ring = np.zeros((MODEL_BINS, MODEL_FRAMES, N_CHANNELS), np.float32)
        self._streaming = is_streaming(model)
        frames_in = k if self._streaming else MODEL_FRAMES
        self._window = np.zeros((1, MODEL_BINS, frames_in, N_CHANNELS), np.float32)
        self._prefill = self.latency_samples - PAD_START
        # the output fifo starts with `prefill` zeros: the delay of the first frame's hop
        self._synth = HopSynthesis(cfg, self._prefill + (k + 2) * HOP)
        self.reset()

    # -- state -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all audio (as if just constructed); the latency stays the same."""
        self._hist[:] = 0
        self._spec_ring[:] = 0
        self._mag_ring[:] = 0
        self._synth.reset(write_pos=self._prefill)
        self._fill = 0
        self._read_pos = 0
        self.frames = 0
        self.model_calls = 0
        self.nonfinite_count = 0
        self.nonfinite_estimates = 0
        self._model.reset()

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
                g = self._analyse()
                if self.frames % self.config.model_hop_frames == 0:
                    self._run_model(g)
                self._fill = 0
            self._synth.emit(self._read_pos, m, out, i)
            self._read_pos = (self._read_pos + m) % self._synth.capacity
            i += m
        return out

    def _analyse(self) -> int:
        """A full hop of input has arrived: analyse and keep one frame; return its index."""
        kernels.frame_and_shift(self._hist, self._wa, self._fft_in)
        self._fft()
        g = self.frames
        kernels.store_frame(self._fft_out, g, self._spec_ring, self._mag_ring)
        self.frames = g + 1
        return g

    def _run_model(self, g: int) -> None:
        """Run the model on the window (or, streaming, the new frames) ending at frame
        ``g``; synthesise the frames it emits."""
        cfg = self.config
        kernels.assemble_window(self._mag_ring, g, self._window)
        if self._streaming:
            est = self._model.step(self._window)
        else:
            est = self._model(self._window)
        if self.model_calls == 0:
            est = check_estimates(est, 1, self._window.shape[2])
        self.model_calls += 1
        est = est[0]
        for k in range(cfg.model_hop_frames):
            e = g - cfg.lookahead_frames - cfg.model_hop_frames + 1 + k
            if e < 0:
                continue  # a frame before the stream started: nothing to emit
            t = k if self._streaming else cfg.emitted_window_index(k)
            self.nonfinite_estimates += self._synth.set_masks(est, t)
            self._synth.frame(self._spec_ring, e)

    def hop_without_model(self, block: np.ndarray, out: np.ndarray,
                          masks: np.ndarray | None = None) -> None:
        """One streaming hop with fixed masks instead of a model (for benchmarks).

        Ingests one hop of input, analyses a frame, masks it for the 4 stems,
        inverts (8 inverse FFTs), overlap-adds and emits one hop of output: the DSP
        cost of a hop, the model excluded. The same code as :meth:`process`.

        Parameters
        ----------
        block : np.ndarray [shape=(HOP, 2), dtype=float32]
        out : np.ndarray [shape=(5, HOP, 2), dtype=float32]
        masks : np.ndarray [shape=(4, 2, N_BINS), dtype=float32], optional
            Masks to use from now on; the current ones when omitted.
        """
        if masks is not None:
            self._synth.masks[...] = masks
        self.nonfinite_count += kernels.ingest(block, 0, HOP, self._hist, 0)
        self._synth.frame(self._spec_ring, self._analyse())
        self._synth.emit(self._read_pos, HOP, out, 0)
        self._read_pos = (self._read_pos + HOP) % self._synth.capacity
