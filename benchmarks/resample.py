"""The live path at other server rates: the resamplers' cost, response and SDR cost.

The live worker resamples around the 44.1 kHz engine at any other JACK rate
(:mod:`rtsep.live.rate`, :mod:`rtsep.dsp.resample`). Prints JSON lines:

- ``resample_cost`` per rate: time to resample one engine hop (1,024 samples at
  44.1 kHz) down (2 channels) and back up (the 4 stems, 8 channels), median and p99,
  and as a share of the hop's 23.2 ms (the target: <= 5 %);
- ``resample_response`` per rate: the down-then-up chain measured with tones:
  passband error (worst over 20 Hz-20 kHz, dB), what folds into the passband from
  above (worst, dB), the chain's delay (whole samples) and its two stages' taps;
- ``resample_sdr`` (``--sdr``): a track through the worker's buffers with a model at
  44.1 kHz and at each rate (the song resampled up with soxr VHQ, the stems back
  down), SDR per stem against the track's stems and the difference to 44.1 kHz.

Usage::

    python benchmarks/resample.py                       # cost and response, 48/88.2/96 kHz
    python benchmarks/resample.py --sdr ../shared/data/real/music-delta-80s-rock
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from rtsep.constants import HOP, N_CHANNELS, N_STEMS, SAMPLE_RATE, STEMS


def cost(rate: int, hops: int) -> dict:
    from rtsep.live.rate import RateBridge

    bridge = RateBridge(rate, 4095, 4 * HOP)
    n_in = round(HOP * rate / SAMPLE_RATE)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N_CHANNELS, n_in)).astype(np.float32)
    y = rng.standard_normal((2 * N_STEMS, HOP)).astype(np.float32)
    o_down = np.zeros((N_CHANNELS, bridge.down.out_max), np.float32)
    o_up = np.zeros((2 * N_STEMS, bridge.up.out_max), np.float32)
    t = np.empty(hops)
    for i in range(hops + 20):
        t0 = time.perf_counter()
        bridge.down.process(x, n_in, o_down)
        bridge.up.process(y, HOP, o_up)
        if i >= 20:
            t[i - 20] = time.perf_counter() - t0
    hop_s = HOP / SAMPLE_RATE
    return {"bench": "resample_cost", "rate": rate, "median_ms": round(1e3 * np.median(t), 4),
            "p99_ms": round(1e3 * np.percentile(t, 99), 4),
            "share_of_hop_median": round(float(np.median(t)) / hop_s, 4),
            "share_of_hop_p99": round(float(np.percentile(t, 99)) / hop_s, 4), "hops": hops}


def _chain(rate: int, x: np.ndarray) -> tuple[np.ndarray, int, tuple[int, int]]:
    """``x`` (1, n) at ``rate`` down to 44.1 kHz and back; (output, delay, taps)."""
    from rtsep.live.rate import RateBridge

    bridge = RateBridge(rate, 0, 4096)
    down, up = bridge.down, bridge.up
    y = np.zeros((1, x.shape[1] + 8), np.float32)
    o1 = np.zeros((N_CHANNELS, down.out_max), np.float32)
    o2 = np.zeros((2 * N_STEMS, up.out_max), np.float32)
    w = 0
    for i in range(0, x.shape[1], 4096):
        k = min(4096, x.shape[1] - i)
        xx = np.repeat(x[:, i:i + k], N_CHANNELS, axis=0)
        m = down.process(xx, k, o1)
        stems = np.zeros((2 * N_STEMS, m), np.float32)
        stems[0] = o1[0, :m]
        c = up.process(stems, m, o2)
        y[0, w:w + c] = o2[0, :c]
        w += c
    return y[:, :w], bridge.latency, (down.taps, up.taps)


def response(rate: int) -> dict:
    t = np.arange(rate // 2) / rate
    pass_err = []
    for f in np.geomspace(20, 20000, 25):
        x = np.sin(2 * np.pi * f * t).astype(np.float32)[None]
        y, d, taps = _chain(rate, x)
        n = min(y.shape[1], x.shape[1] + d) - 2000
        ref = x[0, 2000:n - d]
        err = y[0, 2000 + d:n] - ref
        pass_err.append(10 * np.log10(np.mean(err ** 2) / np.mean(ref ** 2)))
    fold = []
    # tones above 44.1 kHz's band that would land in 0-20 kHz if not stopped
    lo, hi = SAMPLE_RATE - 20000 + 50, 0.49 * rate  # (at 48 kHz none: all folds above 20 kHz)
    for f in (np.linspace(lo, hi, 12) if hi > lo else ()):
        x = np.sin(2 * np.pi * f * t).astype(np.float32)[None]
        y, _, _ = _chain(rate, x)
        rms = np.sqrt(np.mean(y[0, 2000:-2000] ** 2))
        fold.append(20 * np.log10(max(rms, 1e-12) / np.sqrt(0.5)))
    return {"bench": "resample_response", "rate": rate,
            "passband_error_db_worst": round(float(max(pass_err)), 1),
            "folded_into_passband_db_worst": round(float(max(fold)), 1) if fold else None,
            "chain_delay_samples": d, "taps_down_up": list(taps)}


def sdr(track, rates, model_spec: str) -> list[dict]:
    import soxr

    from rtsep.engine import StreamConfig, StreamingSeparator
    from rtsep.evaluate import sdr_museval
    from rtsep.io.tracks import read_track
    from rtsep.live.rate import through_worker
    from rtsep.runtime.loader import load_model

    song = read_track(track)
    stems = np.stack([song[s] for s in STEMS])
    mix = song["mixture"]
    model = load_model(model_spec, batch_size=1)
    engine = StreamingSeparator(model, StreamConfig(model_hop_frames=1))
    rows, base = [], None
    for rate in (SAMPLE_RATE, *rates):
        x = mix if rate == SAMPLE_RATE else soxr.resample(mix, SAMPLE_RATE, rate, "VHQ")
        est = through_worker(engine, x.astype(np.float32), rate)
        if rate != SAMPLE_RATE:
            est = np.stack([soxr.resample(e, rate, SAMPLE_RATE, "VHQ") for e in est])
        n = min(est.shape[1], stems.shape[1])
        s = sdr_museval(stems[:, :n], est[:4, :n])
        mean = float(np.mean([s[k] for k in STEMS]))
        if base is None:
            base = mean
        rows.append({"bench": "resample_sdr", "rate": rate, "track": str(track),
                     "model": model_spec, **{k: round(s[k], 3) for k in STEMS},
                     "mean": round(mean, 3), "minus_44100_db": round(mean - base, 3)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="48000,88200,96000")
    ap.add_argument("--hops", type=int, default=2000)
    ap.add_argument("--sdr", default=None, metavar="TRACK", help="also the SDR on this track folder")
    ap.add_argument("--model", default="default")
    args = ap.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    for rate in rates:
        print(json.dumps(cost(rate, args.hops)), flush=True)
    for rate in rates:
        print(json.dumps(response(rate)), flush=True)
    if args.sdr:
        for row in sdr(args.sdr, rates, args.model):
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
