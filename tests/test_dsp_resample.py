"""rtsep.dsp.resample: exact delays, streaming equals one block, passband and stopband;
rtsep.live.rate and the worker's buffers at other server rates (no JACK)."""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.constants import SAMPLE_RATE
from rtsep.dsp.resample import StreamResampler, chain_delay, design, grid

RATES = (48000, 88200, 96000, 32000)


def _stream(r: StreamResampler, x: np.ndarray, chunks) -> np.ndarray:
    """``x`` (C, n) through ``r`` in chunks of the given sizes (cycled)."""
    outs, i, k = [], 0, 0
    while i < x.shape[1]:
        n = min(chunks[k % len(chunks)], x.shape[1] - i)
        o = np.zeros((x.shape[0], r.out_max), np.float32)
        c = r.process(x[:, i:i + n], n, o)
        outs.append(o[:, :c])
        i, k = i + n, k + 1
    return np.concatenate(outs, axis=1)


def _tone(rate: int, f: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.sin(2 * np.pi * f * t).astype(np.float32)[None]


def _db(err: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(err ** 2) / np.mean(ref ** 2)))


def test_grid_and_filter_rows():
    assert grid(48000, 44100) == (7056000, 147, 160)
    h = design(48000, 44100)
    assert h.shape[0] == 147 and h.shape[1] % 2 == 0
    np.testing.assert_allclose(h.sum(axis=1), 1.0, atol=1e-5)  # DC at unit gain
    with pytest.raises(ValueError, match="phases"):
        design(47999, 44100)


@pytest.mark.parametrize("rate", RATES)
def test_chunking_does_not_change_the_output(rate):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, rate // 4)).astype(np.float32)
    a = _stream(StreamResampler(rate, SAMPLE_RATE, 2, 4096), x, [4096])
    b = _stream(StreamResampler(rate, SAMPLE_RATE, 2, 4096), x, [1, 17, 256, 999, 4096])
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=1e-6)
    # output keeps pace with input: all but (at most) a sample of it is out
    assert abs(a.shape[1] - x.shape[1] * SAMPLE_RATE / rate) <= 1


@pytest.mark.parametrize("rate", RATES)
def test_down_up_chain_is_a_whole_sample_delay(rate):
    """Down to 44.1 kHz, an inner delay of D samples, up again: the output is the input
    delayed by exactly the whole number of samples chain_delay computes (passband
    tones to -70 dB, whatever the fractional parts of the stages)."""
    inner = 4095
    down = StreamResampler(rate, SAMPLE_RATE, 1, 4096)
    up_min = StreamResampler(SAMPLE_RATE, rate, 1, 4096).min_delay_ticks
    ticks, total = chain_delay(rate, inner, SAMPLE_RATE, down.delay_ticks, up_min)
    up = StreamResampler(SAMPLE_RATE, rate, 1, 4096, delay_ticks=ticks)
    g, g_outer, g_inner = grid(rate, SAMPLE_RATE)
    assert (down.delay_ticks + inner * g_inner + ticks) == total * g_outer
    top = min(19000.0, 0.43 * rate)
    for f in (100.0, 1000.0, 9000.0, top):
        x = _tone(rate, f)
        y = _stream(down, x, [256])
        y = np.concatenate([np.zeros((1, inner), np.float32), y], axis=1)  # the inner delay
        z = _stream(up, y, [235, 4096])
        down.reset()
        up.reset()
        n = min(z.shape[1], x.shape[1] + total) - 2000
        seg = slice(total + 2000, n)
        ref = x[0, 2000:n - total]
        assert _db(z[0, seg] - ref, ref) < -70, (rate, f)


@pytest.mark.parametrize("rate", (88200, 96000))
def test_what_would_fold_into_the_passband_is_stopped(rate):
    """Tones that would alias into 0-20 kHz at 44.1 kHz come out >= 75 dB down (at
    48 kHz all that can fold lands above 20 kHz)."""
    for f in (24200.0, 0.45 * rate):
        y = _stream(StreamResampler(rate, SAMPLE_RATE, 1, 4096), _tone(rate, f), [512])
        rms = np.sqrt(np.mean(y[0, 500:-500] ** 2))
        assert 20 * np.log10(rms / np.sqrt(0.5)) < -75, (rate, f)


def test_upsampling_images_are_stopped():
    """44.1 -> 48 kHz: a 19 kHz tone's image (25.1 kHz) is gone; 48 kHz cannot hold it,
    so check at 96 kHz, where it could."""
    up = StreamResampler(SAMPLE_RATE, 96000, 1, 4096)
    y = _stream(up, _tone(SAMPLE_RATE, 19000.0), [1024])[0, 2000:-2000]
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 96000)
    image = spec[(freqs > 24500) & (freqs < 26000)].max()
    assert 20 * np.log10(image / spec.max()) < -75


# ---------------------------------------------------------------------------------------
# the worker's buffers at another server rate
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", (48000, 96000))
def test_buffers_put_a_click_at_the_reported_latency(rate):
    """Through the worker's buffers (resampler, real engine with an input-routing model,
    mixer): the click on vocals peaks at exactly ``bufs.latency`` server samples, the
    main pair is the input delayed bit for bit, and the instrumental (here silent) is
    the sum of the other stems."""
    from rtsep.engine import StreamConfig, StreamingSeparator
    from rtsep.live.plan import Buffers
    from rtsep.runtime.stand_ins import RouteModel

    engine = StreamingSeparator(RouteModel("vocals"), StreamConfig(model_hop_frames=1))
    bufs = Buffers(engine.latency_samples, rate=rate)
    assert bufs.latency > engine.latency_samples * rate / SAMPLE_RATE
    n_in = bufs.latency + 3 * rate // 10
    x = np.zeros((n_in, 2), np.float32)
    x[1000] = 1.0
    x[5000:5100] = np.nan  # replaced by 0 before the resampler, counted
    outs = []
    for i in range(0, n_in, 300):
        n = min(300, n_in - i)
        bufs.block[:n] = x[i:i + n]
        cm, count = bufs.process(engine, n)
        outs.append(cm[:, :count].copy())
    y = np.concatenate(outs, axis=1)
    assert abs(y.shape[1] - n_in) <= 2
    assert int(np.abs(y[0]).argmax()) == 1000 + bufs.latency  # vocals L
    assert np.abs(y[0]).max() > 0.4
    assert np.abs(y[2:10]).max() < 1e-3  # drums, bass, other, instrumental
    main = y[10]
    assert main[1000 + bufs.latency] == 1.0 and np.count_nonzero(main[:1000 + bufs.latency]) == 0
    assert bufs.nonfinite == 200


def test_buffers_follow_a_rate_change():
    from rtsep.live.plan import Buffers

    bufs = Buffers(4095)
    assert bufs.bridge is None and bufs.latency == 4095
    bufs.set_rate(48000)
    assert bufs.bridge is not None and bufs.latency == bufs.bridge.latency
    assert bufs.mixer.rate == 48000
    bufs.set_rate(SAMPLE_RATE)
    assert bufs.bridge is None and bufs.latency == 4095


def test_unsupported_rates_say_why():
    from rtsep.live.rate import supported

    assert supported(48000) is None and supported(96000) is None and supported(22050) is None
    assert "standard rate" in supported(47999)
    assert "outside" in supported(1000)
