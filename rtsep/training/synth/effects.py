"""Insert effects and the song's room: pedalboard chains, a synthetic reverb, panning.

Every function is deterministic (pedalboard's processors are reset before each
call; the reverb's noise comes from the caller's generator).
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb
from scipy import signal

from rtsep.constants import SAMPLE_RATE
from rtsep.training.synth.score import PartFx


def part_chain(fx: PartFx) -> pb.Pedalboard:
    """The insert chain of an instrument part (see :class:`PartFx`)."""
    chain: list = []
    if fx.hpf_hz > 0:
        chain.append(pb.HighpassFilter(cutoff_frequency_hz=fx.hpf_hz))
    if fx.drive_db > 0:
        chain.append(pb.Distortion(drive_db=fx.drive_db))
        chain.append(pb.PeakFilter(cutoff_frequency_hz=2500.0, gain_db=3.0, q=0.8))
        chain.append(pb.LowpassFilter(cutoff_frequency_hz=fx.lpf_hz or 6000.0))
        chain.append(pb.Gain(gain_db=-fx.drive_db * 0.5))
    elif fx.lpf_hz > 0:
        chain.append(pb.LowpassFilter(cutoff_frequency_hz=fx.lpf_hz))
    if fx.tilt_db:
        chain.append(pb.LowShelfFilter(cutoff_frequency_hz=250.0, gain_db=-fx.tilt_db / 2))
        chain.append(pb.HighShelfFilter(cutoff_frequency_hz=3000.0, gain_db=fx.tilt_db / 2))
    if fx.comp_ratio > 1.0:
        chain.append(pb.Compressor(threshold_db=-18.0, ratio=fx.comp_ratio, attack_ms=8.0, release_ms=120.0))
    if fx.chorus > 0:
        chain.append(pb.Chorus(rate_hz=0.8, depth=fx.chorus * 0.5, mix=fx.chorus))
    if fx.delay_s > 0:
        chain.append(pb.Delay(delay_seconds=fx.delay_s, feedback=0.3, mix=fx.delay_mix))
    return pb.Pedalboard(chain)


def _compressor(rng: np.random.Generator, *, threshold_db: tuple[float, float], ratio: tuple[float, float],
                attack_ms: tuple[float, float], release_ms: tuple[float, float]) -> pb.Compressor:
    """A compressor whose settings are drawn uniformly from these (low, high) ranges
    (in this order)."""
    return pb.Compressor(threshold_db=float(rng.uniform(*threshold_db)), ratio=float(rng.uniform(*ratio)),
                         attack_ms=float(rng.uniform(*attack_ms)), release_ms=float(rng.uniform(*release_ms)))


def vocal_chain(rng: np.random.Generator, delay_s: float, delay_mix: float) -> pb.Pedalboard:
    """A vocal insert chain: high-pass, presence EQ, compression, saturation, delay."""
    chain = [
        pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(70, 150))),
        pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(200, 500)), gain_db=float(rng.uniform(-4, 1)), q=1.0),
        pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(2500, 5000)), gain_db=float(rng.uniform(-1, 5)), q=0.9),
        pb.HighShelfFilter(cutoff_frequency_hz=8000.0, gain_db=float(rng.uniform(-2, 4))),
        _compressor(rng, threshold_db=(-26, -12), ratio=(2, 6), attack_ms=(2, 15), release_ms=(60, 200)),
    ]
    if rng.random() < 0.3:
        chain.append(pb.Distortion(drive_db=float(rng.uniform(2, 8))))
    if delay_s > 0:
        chain.append(pb.Delay(delay_seconds=delay_s, feedback=float(rng.uniform(0.1, 0.4)), mix=delay_mix))
    return pb.Pedalboard(chain)


def drum_bus(rng: np.random.Generator) -> pb.Pedalboard:
    """Drum bus: compression and EQ, sometimes a little grit."""
    chain = [
        pb.LowShelfFilter(cutoff_frequency_hz=100.0, gain_db=float(rng.uniform(-2, 4))),
        pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(300, 600)), gain_db=float(rng.uniform(-5, 0)), q=1.0),
        pb.HighShelfFilter(cutoff_frequency_hz=6000.0, gain_db=float(rng.uniform(-3, 4))),
        _compressor(rng, threshold_db=(-24, -10), ratio=(1.5, 5), attack_ms=(3, 30), release_ms=(50, 250)),
    ]
    if rng.random() < 0.2:
        chain.append(pb.Distortion(drive_db=float(rng.uniform(3, 10))))
    return pb.Pedalboard(chain)


def process(board: pb.Pedalboard, x: np.ndarray) -> np.ndarray:
    """Run a chain over a signal. x: float32 (n, 2) -> float32 (n, 2)."""
    if len(board) == 0:
        return x
    y = board(np.ascontiguousarray(x.T, dtype=np.float32), SAMPLE_RATE, reset=True)
    return np.ascontiguousarray(y.T[: len(x)], dtype=np.float32)


def pan_stereo(x: np.ndarray, pan: float) -> np.ndarray:
    """Balance a stereo signal (or place a mono one): pan -1 left .. +1 right.

    x : float32 (n,) or (n, 2) -> float32 (n, 2)
    """
    angle = (pan + 1.0) * np.pi / 4.0
    g = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32) * np.float32(np.sqrt(2.0))
    if x.ndim == 1:
        return x[:, None].astype(np.float32) * g[None, :]
    return x * g[None, :]


def width(x: np.ndarray, amount: float) -> np.ndarray:
    """Stereo width by mid/side: 0 mono, 1 as is, >1 wider. x: (n, 2) -> (n, 2)."""
    mid = (x[:, 0] + x[:, 1]) * 0.5
    side = (x[:, 0] - x[:, 1]) * (0.5 * amount)
    return np.stack([mid + side, mid - side], axis=1).astype(np.float32)


def haas(x: np.ndarray, delay_s: float, side: int) -> np.ndarray:
    """Widen by delaying one channel a few ms. x: (n, 2) -> (n, 2)."""
    d = int(round(delay_s * SAMPLE_RATE))
    if d <= 0:
        return x
    y = x.copy()
    ch = 0 if side < 0 else 1
    y[d:, ch] = x[:-d, ch]
    y[:d, ch] = 0.0
    return y


def algorithmic_room(rng: np.random.Generator, rt60_s: float) -> pb.Pedalboard:
    """A fully wet algorithmic (Freeverb) room, size from the decay time."""
    return pb.Pedalboard([
        pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(100, 300))),
        pb.Reverb(room_size=float(np.clip(0.25 + rt60_s / 4.0, 0.2, 0.95)),
                  damping=float(rng.uniform(0.2, 0.7)), wet_level=1.0, dry_level=0.0,
                  width=float(rng.uniform(0.6, 1.0))),
    ])


def make_ir(rng: np.random.Generator, rt60_s: float, predelay_s: float) -> np.ndarray:
    """A synthetic stereo room: early reflections and a decaying noise tail whose
    highs die faster than its lows.

    Returns
    -------
    np.ndarray, float32 (n, 2), unit energy per channel
    """
    n = int((predelay_s + rt60_s * 1.1 + 0.05) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = np.zeros((n, 2))
    start = int(predelay_s * SAMPLE_RATE)
    bands = ((0, 500, 1.0), (500, 4000, 0.8), (4000, 22000, 0.45))
    for ch in range(2):
        noise = rng.standard_normal(n)
        spec = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        tail = np.zeros(n)
        for lo, hi, k in bands:
            band = np.fft.irfft(np.where((freqs >= lo) & (freqs < hi), spec, 0), n)
            tail += band * np.exp(-6.9 * np.maximum(t - predelay_s, 0) / (rt60_s * k))
        tail[:start] = 0.0
        fade_in = np.clip((t - predelay_s) / 0.03, 0, 1)
        ir[:, ch] = tail * fade_in
        for _ in range(8):  # early reflections
            d = start + int(rng.uniform(0.002, 0.06) * SAMPLE_RATE)
            if d < n:
                ir[d, ch] += rng.uniform(-1, 1) * 3.0 * np.exp(-6.9 * (d - start) / SAMPLE_RATE / rt60_s)
    ir /= np.sqrt(np.sum(ir ** 2, axis=0, keepdims=True)) + 1e-12
    return ir.astype(np.float32)


def reverb(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """The wet signal of ``x`` in the room ``ir``. x: (n, 2), ir: (m, 2) -> (n, 2)."""
    out = np.empty_like(x)
    for ch in range(2):
        out[:, ch] = signal.oaconvolve(x[:, ch], ir[:, ch], mode="full")[: len(x)]
    return out
