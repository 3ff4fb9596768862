"""The Numba kernels of the front end and the streaming engine.

Package-private: only :mod:`rtsep.dsp` and :mod:`rtsep.engine` call them (a test
checks it). Each writes into preallocated arrays and allocates nothing, so a hop of
the engine allocates nothing either. Arrays are channel-first as in
:mod:`rtsep.dsp.stft`: signals ``(nb_channels, nb_samples)``, one frame's spectrum
``(nb_channels, N_BINS)``.
"""

from __future__ import annotations

import math

import numba

from rtsep.constants import HOP, MODEL_BINS, PAD_START


_jit = numba.njit(nogil=True, cache=True, fastmath=False)


@_jit
def overlap_add_all(frames, window, out):  # pragma: no cover - compiled
    """frames (C, F, N) real, window (N,), out (C, (F-1)*HOP + N) += frames*window."""
    n_channels, n_frames, n = frames.shape
    for c in range(n_channels):
        for f in range(n_frames):
            base = f * HOP
            for i in range(n):
                out[c, base + i] += frames[c, f, i] * window[i]


@_jit
def ingest(block, start, count, hist, fill):  # pragma: no cover - compiled
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
def frame_and_shift(hist, window, out):  # pragma: no cover - compiled
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
def store_frame(spec, slot, spec_ring, mag_ring):  # pragma: no cover - compiled
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
def assemble_window(mag_ring, newest, out):  # pragma: no cover - compiled
    """out (1, MODEL_BINS, T, C): frames newest-T+1 .. newest of the ring (R slots,
    T <= R), oldest first: the model's window (T = R) or a step's new frames."""
    n_bins, n_slots, n_channels = mag_ring.shape
    n_out = out.shape[2]
    start = (newest - n_out + 1) % n_slots
    first = min(n_out, n_slots - start)
    # per bin, the frames are one or two contiguous runs of the ring: copied as flat
    # runs in memory order (indexing each frame's slot modulo R took 1.08 ms for a
    # 192-frame window on a 2-core EPYC VM, this 0.22 ms)
    ring = mag_ring.reshape(n_bins, n_slots * n_channels)
    flat = out.reshape(n_bins, n_out * n_channels)
    a = start * n_channels
    n1 = first * n_channels
    n2 = (n_out - first) * n_channels
    for b in range(n_bins):
        for i in range(n1):
            flat[b, i] = ring[b, a + i]
        for i in range(n2):
            flat[b, n1 + i] = ring[b, i]


@_jit
def estimates_to_masks(est, t, power, high_band_average, masks):  # pragma: no cover
    """Ratio masks of frame ``t`` of a model window.

    est (n_stems, MODEL_BINS, n_frames, C) stem estimates of one window;
    masks (n_stems, C, N_BINS) out. mask_j = (e_j^p + d/S) / (sum_k e_k^p + d) with
    non-finite or negative estimates treated as 0, so the masks of a bin always sum
    to 1 (stems sum to the mixture) and silence splits evenly. Bins >= MODEL_BINS get
    the mean mask over the model's bins ("average") or 0 ("zeros"). Returns the number
    of non-finite estimates of the frame.
    """
    n_stems = est.shape[0]
    n_channels = est.shape[3]
    n_bins = masks.shape[2]
    delta = 1e-20
    bad = 0
    for c in range(n_channels):
        for b in range(MODEL_BINS):
            total = 0.0
            for j in range(n_stems):
                e = est[j, b, t, c]
                if not math.isfinite(e):
                    e = 0.0
                    bad += 1
                elif not (e > 0.0):
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
    return bad


@_jit
def apply_masks(spec_ring, slot, masks, out):  # pragma: no cover - compiled
    """out (n_stems*C, N_BINS) complex = masks (n_stems, C, N_BINS) * spec_ring[slot]."""
    n_stems, n_channels, n_bins = masks.shape
    s = slot % spec_ring.shape[0]
    for j in range(n_stems):
        for c in range(n_channels):
            row = j * n_channels + c
            for b in range(n_bins):
                out[row, b] = spec_ring[s, c, b] * masks[j, c, b]


@_jit
def overlap_add_hop(frames, window, acc, fifo, write_pos):  # pragma: no cover
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
def emit(fifo, read_pos, count, out, start, n_channels):  # pragma: no cover
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
