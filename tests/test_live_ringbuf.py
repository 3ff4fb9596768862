"""rtsep.live.ringbuf: the single-producer/single-consumer sample rings (no JACK)."""

import numpy as np

from rtsep.live.ringbuf import SampleRing


def test_ring_fifo_with_underruns_keeps_positions():
    """Random block sizes; the reader sometimes overtakes the writer. Every frame read
    is either the frame written for that absolute position or 0 (exact)."""
    rng = np.random.default_rng(1)
    ring = SampleRing(2, 64)
    w_pos = 0
    r_pos = 0
    outs = [np.zeros(40, np.float32), np.zeros(40, np.float32)]
    missing_total = 0
    for _ in range(400):
        n = int(rng.integers(1, 40))
        if ring.space() >= n:
            vals = np.arange(w_pos, w_pos + n, dtype=np.float32) + 1.0
            dropped = ring.write(np.stack([vals, -vals]), n)
            assert dropped == max(0, min(ring.read_pos - w_pos, n))
            w_pos += n
        m = int(rng.integers(1, 40))
        missing = ring.pop(outs, m)
        missing_total += missing
        want = np.arange(r_pos, r_pos + m, dtype=np.float32) + 1.0
        got = outs[0][:m]
        ok = (got == want) | (got == 0)
        assert ok.all()
        assert np.count_nonzero(got == 0) == missing
        np.testing.assert_array_equal(outs[1][:m], -got)
        r_pos += m
        assert ring.read_pos == r_pos
    assert missing_total > 0  # the sequence did exercise underruns


def test_ring_push_counts_lost_frames_when_full():
    ring = SampleRing(2, 16)
    a = np.ones(10, np.float32)
    assert ring.push([a, a], 10)
    assert not ring.push([a, a], 10)  # 20 > 16: nothing written
    assert ring.lost == 10 and ring.available() == 10
    out = np.zeros((10, 2), np.float32)
    ring.read(out, 10)
    assert (out == 1).all() and ring.available() == 0
