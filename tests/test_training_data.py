"""Tests of rtsep.training.tracks, .excerpts and .data: tracks, split, excerpts, magnitudes,
augmentation, examples.

Tolerances: magnitudes are compared to rtsep.dsp's at 1e-4 absolute (they are
computed by the same code on the same frames, so in practice they are identical);
magnitudes here are O(1..100).
"""

from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf

from rtsep.dsp.stft import model_magnitudes, n_frames_for
from rtsep.constants import HOP, MODEL_BINS, MODEL_FRAMES, SAMPLE_RATE, STEMS
from rtsep.training.data import AugmentConfig, ExampleSampler, examples_from_stems
from rtsep.training.excerpts import (EXCERPT_SAMPLES, FRAME_OFFSET, excerpt_magnitudes, read_excerpt,
                                     validation_excerpts)
from rtsep.training.tracks import Track, find_tracks, split_tracks
from rtsep.errors import ConfigError, DatasetError

from stems import synth_stems, write_track  # noqa: E402  (tests/stems.py)

MAG_ATOL = 1e-4




@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def dataset(tmp_path, rng):
    """Three tracks: two longer than an excerpt (one FLAC), one shorter."""
    root = tmp_path / "ds"
    lengths = {"song_a": EXCERPT_SAMPLES + 30_000, "song_b": EXCERPT_SAMPLES + 5_000,
               "song_c": EXCERPT_SAMPLES - 50_000}
    for i, (name, n) in enumerate(lengths.items()):
        write_track(root / name, synth_stems(rng, n), ext=".flac" if i == 1 else ".wav")
    return root


def whole_file(track, j):
    x, _ = sf.read(str(track.stem_paths[j]), dtype="float32", always_2d=True)
    return x[:track.n_samples]


def test_excerpt_length_gives_192_frames():
    assert EXCERPT_SAMPLES == 199_680
    assert n_frames_for(EXCERPT_SAMPLES) - 2 * FRAME_OFFSET == MODEL_FRAMES


def test_find_tracks(dataset):
    tracks = find_tracks(dataset)
    assert [t.name for t in tracks] == ["song_a", "song_b", "song_c"]
    assert tracks[0].n_samples == EXCERPT_SAMPLES + 30_000
    assert [p.stem for p in tracks[1].stem_paths] == list(STEMS)
    assert tracks[1].stem_paths[0].suffix == ".flac"


def test_find_tracks_musdb_root_uses_train(tmp_path, rng):
    write_track(tmp_path / "musdb" / "train" / "t1", synth_stems(rng, 5000))
    write_track(tmp_path / "musdb" / "test" / "t2", synth_stems(rng, 5000))
    assert [t.name for t in find_tracks(tmp_path / "musdb")] == ["t1"]


def test_find_tracks_errors(tmp_path, rng):
    with pytest.raises(DatasetError, match="no such folder"):
        find_tracks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no track folders"):
        find_tracks(tmp_path / "empty")
    write_track(tmp_path / "rate" / "t", synth_stems(rng, 4000), sample_rate=22050)
    with pytest.raises(DatasetError, match="22050 Hz"):
        find_tracks(tmp_path / "rate")
    stems = synth_stems(rng, 20000)
    stems["bass"] = stems["bass"][:10000]
    write_track(tmp_path / "len" / "t", stems)
    with pytest.raises(DatasetError, match="differ in length"):
        find_tracks(tmp_path / "len")


def test_read_excerpt_seeks_and_pads(dataset):
    track = find_tracks(dataset)[0]
    whole = whole_file(track, 0)
    n = whole.shape[0]
    np.testing.assert_array_equal(read_excerpt(track.stem_paths[0], 1000, 5000), whole[1000:6000])
    tail = read_excerpt(track.stem_paths[0], n - 100, 300)
    np.testing.assert_array_equal(tail[:100], whole[n - 100:])
    assert not tail[100:].any()
    head = read_excerpt(track.stem_paths[0], -50, 100)
    assert not head[:50].any()
    np.testing.assert_array_equal(head[50:], whole[:50])
    assert read_excerpt(track.stem_paths[0], n + 10, 10).shape == (10, 2)


def test_read_excerpt_mono_is_duplicated(tmp_path):
    x = np.linspace(-0.5, 0.5, 3000, dtype=np.float32)
    sf.write(str(tmp_path / "m.wav"), x, SAMPLE_RATE, subtype="FLOAT")
    got = read_excerpt(tmp_path / "m.wav", 10, 20)
    np.testing.assert_array_equal(got[:, 0], x[10:30])
    np.testing.assert_array_equal(got[:, 1], x[10:30])


def test_excerpt_magnitudes_equal_engine_magnitudes_at_aligned_start(dataset):
    track = find_tracks(dataset)[0]
    mix = sum(whole_file(track, j) for j in range(4))
    full = model_magnitudes(mix)
    for start in (0, 7 * HOP, (track.n_samples - EXCERPT_SAMPLES) // HOP * HOP):
        ex = mix[start:start + EXCERPT_SAMPLES]
        got = excerpt_magnitudes(ex)
        f0 = start // HOP + FRAME_OFFSET
        want = full[:, f0:f0 + MODEL_FRAMES]
        assert got.shape == want.shape == (MODEL_BINS, MODEL_FRAMES, 2)
        np.testing.assert_allclose(got, want, rtol=0, atol=MAG_ATOL)
        assert want.max() > 1.0  # the comparison is not between silences


def test_sampler_magnitudes_equal_engine_magnitudes(dataset):
    """Without augmentation an example is the engine's view of the file at its start
    (any start: the file is shifted by start % HOP so that frames line up)."""
    tracks = find_tracks(dataset)[:1]
    sampler = ExampleSampler(tracks, AugmentConfig.none(), seed=3)
    track = tracks[0]
    stems = [whole_file(track, j) for j in range(4)]
    for index in range(3):
        plan = sampler.plan(index)
        s = plan.starts[0]
        assert set(plan.starts) == {s} and set(plan.tracks) == {0}
        x, y, _ = sampler.example(index)
        f0 = s // HOP + FRAME_OFFSET
        shift = s % HOP
        full_x = model_magnitudes(sum(stems)[shift:])
        np.testing.assert_allclose(x, full_x[:, f0:f0 + MODEL_FRAMES], rtol=0, atol=MAG_ATOL)
        for j in range(4):
            full_j = model_magnitudes(stems[j][shift:])
            np.testing.assert_allclose(y[j], full_j[:, f0:f0 + MODEL_FRAMES], rtol=0, atol=MAG_ATOL)


def test_example_shapes_and_dtypes(dataset):
    sampler = ExampleSampler(find_tracks(dataset), seed=0)
    for index in (0, 5):
        x, y, _ = sampler.example(index)
        assert x.shape == (MODEL_BINS, MODEL_FRAMES, 2) and x.dtype == np.float32
        assert y.shape == (4, MODEL_BINS, MODEL_FRAMES, 2) and y.dtype == np.float32
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
        assert x.min() >= 0 and y.min() >= 0


def test_short_track_is_zero_padded(dataset):
    short = [t for t in find_tracks(dataset) if t.name == "song_c"]
    sampler = ExampleSampler(short, AugmentConfig.none(), seed=0)
    stems, _ = sampler.stems(0)
    n = short[0].n_samples
    assert stems.shape == (4, EXCERPT_SAMPLES, 2)
    np.testing.assert_array_equal(stems[1, :n], whole_file(short[0], 1))
    assert not stems[:, n:].any()


def test_phase_sensitive_targets(rng):
    """y_j = Re(S_j conj(X)) / |X|, checked against the law of cosines on magnitudes
    alone: Re(S conj X) = (|S|^2 + |X|^2 - |X - S|^2) / 2, where X - S_j is the sum of
    the other stems; the targets sum to |X| and never exceed |S_j|."""
    stems = np.stack(list(synth_stems(rng, EXCERPT_SAMPLES).values())).astype(np.float32)
    x, y = examples_from_stems(stems, target="phase_sensitive")
    x_mag, y_mag = examples_from_stems(stems, target="magnitude")
    np.testing.assert_allclose(x, x_mag, rtol=0, atol=MAG_ATOL)
    scale = float(x.max())
    for j in range(4):
        rest = excerpt_magnitudes(np.delete(stems, j, axis=0).sum(axis=0))
        s = y_mag[j].astype(np.float64)
        want = np.divide(s ** 2 + x.astype(np.float64) ** 2 - rest.astype(np.float64) ** 2,
                         2 * x, out=np.zeros_like(s), where=x > 1e-3 * scale)
        keep = x > 1e-3 * scale  # the cosine law loses precision where |X| is tiny
        np.testing.assert_allclose(y[j][keep], want[keep], rtol=0, atol=1e-3 * scale)
        assert np.all(np.abs(y[j]) <= s + MAG_ATOL)
    np.testing.assert_allclose(y.sum(axis=0), x, rtol=0, atol=MAG_ATOL * 4)
    assert (y < -1e-3).any(), "stems against the mixture's phase give negative targets"


def test_sampler_makes_the_asked_target(dataset):
    tracks = find_tracks(dataset)
    mag = ExampleSampler(tracks, seed=3)
    psa = ExampleSampler(tracks, seed=3, target="phase_sensitive")
    x1, y1, _ = mag.example(5)
    x2, y2, _ = psa.example(5)
    np.testing.assert_array_equal(x1, x2)
    _, want = examples_from_stems(psa.stems(5)[0], target="phase_sensitive")
    np.testing.assert_array_equal(y2, want)
    assert np.abs(y1 - y2).max() > 1e-2
    with pytest.raises(ConfigError, match="target"):
        ExampleSampler(tracks, target="complex")


def test_augmented_example_is_consistent(dataset):
    """x is |STFT| of the sum of the augmented stems, y of each; the stems are the
    files' samples with the planned track, offset, gain and swap."""
    tracks = find_tracks(dataset)
    aug = AugmentConfig(gain_min=0.3, gain_max=1.2, channel_swap_prob=0.5, remix_prob=1.0)
    sampler = ExampleSampler(tracks, aug, seed=11)
    for index in (0, 1, 2):
        plan = sampler.plan(index)
        stems, _ = sampler.stems(index)
        for j in range(4):
            t = tracks[plan.tracks[j]]
            want = whole_file(t, j)[plan.starts[j]:plan.starts[j] + EXCERPT_SAMPLES]
            if plan.swaps[j]:
                want = want[:, ::-1]
            want = want * np.float32(plan.gains[j])
            np.testing.assert_allclose(stems[j, :want.shape[0]], want, rtol=1e-6, atol=1e-7)
        x, y, _ = sampler.example(index)
        np.testing.assert_allclose(x, excerpt_magnitudes(stems.sum(axis=0)), rtol=0, atol=MAG_ATOL)
        for j in range(4):
            np.testing.assert_allclose(y[j], excerpt_magnitudes(stems[j]), rtol=0, atol=MAG_ATOL)
        # the mixture is not the sum of the stem magnitudes (phases add): x was
        # really built from the time-domain sum
        assert np.abs(x - y.sum(axis=0)).max() > 1e-2


def test_augmentation_statistics(dataset):
    tracks = find_tracks(dataset)
    aug = AugmentConfig(gain_min=0.5, gain_max=1.5, channel_swap_prob=0.5, remix_prob=0.4)
    sampler = ExampleSampler(tracks, aug, seed=5)
    plans = [sampler.plan(i) for i in range(300)]
    gains = np.array([p.gains for p in plans])
    swaps = np.array([p.swaps for p in plans])
    assert gains.min() >= 0.5 and gains.max() <= 1.5 and gains.std() > 0.2
    assert 0.4 < swaps.mean() < 0.6  # 1200 Bernoulli(0.5): 6+ sigma margin
    # a remixed stem comes from a random track: it differs from the base (stem 0 is
    # remixed with prob 0.4 too, so compare each stem to the most common track)
    differs = np.mean([len(set(p.tracks)) > 1 for p in plans])
    assert 0.5 < differs < 0.95
    assert all(g > 0 for p in plans for g in p.gains)  # no silence unless asked
    none = ExampleSampler(tracks, AugmentConfig.none(), seed=5)
    assert all(p.gains == (1.0,) * 4 and not any(p.swaps) and len(set(p.tracks)) == 1
               for p in (none.plan(i) for i in range(20)))


def test_examples_are_deterministic(dataset):
    tracks = find_tracks(dataset)
    a = ExampleSampler(tracks, seed=7)
    b = ExampleSampler(list(tracks), seed=7)
    xa, ya, _ = a.example(4)
    xb, yb, _ = b.example(4)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert a.plan(4) != a.plan(5)
    assert a.plan(4) != ExampleSampler(tracks, seed=8).plan(4)


def test_every_track_once_per_pass(dataset):
    tracks = find_tracks(dataset)
    sampler = ExampleSampler(tracks, AugmentConfig.none(), seed=2)
    passes = [[sampler.plan(e * 3 + k).tracks[0] for k in range(3)] for e in range(4)]
    assert all(sorted(p) == [0, 1, 2] for p in passes)
    assert len({tuple(p) for p in passes}) > 1  # shuffled differently across passes


def test_split_is_disjoint_and_deterministic(tmp_path):
    tracks = [Track(f"t{i:02d}", (), 1000) for i in range(10)]
    train, val = split_tracks(tracks, val_fraction=0.2, seed=1)
    assert len(val) == 2 and len(train) == 8
    assert not {t.name for t in train} & {t.name for t in val}
    assert {t.name for t in train} | {t.name for t in val} == {t.name for t in tracks}
    train2, val2 = split_tracks(list(reversed(tracks)), val_fraction=0.2, seed=1)
    assert [t.name for t in val2] == [t.name for t in val]
    assert [t.name for t in train2] == [t.name for t in train]
    vals = {tuple(t.name for t in split_tracks(tracks, val_fraction=0.2, seed=s)[1]) for s in range(10)}
    assert len(vals) > 1  # the seed matters
    assert split_tracks(tracks[:1], val_fraction=0.5, seed=0) == (tracks[:1], [])
    assert len(split_tracks(tracks[:2], val_fraction=0.01, seed=0)[1]) == 1
    assert split_tracks(tracks, val_fraction=0.0, seed=0)[1] == []
    with pytest.raises(ConfigError, match="val_fraction"):
        split_tracks(tracks, val_fraction=1.0, seed=0)


def test_augment_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="unknown key"):
        AugmentConfig.from_dict({"gain": 1.0})
    with pytest.raises(ConfigError, match="remix_prob"):
        AugmentConfig(remix_prob=1.5)
    with pytest.raises(ConfigError, match="silence_prob"):
        AugmentConfig(silence_prob=-0.1)
    with pytest.raises(ConfigError, match="gain_min"):
        AugmentConfig(gain_min=2.0, gain_max=1.0)
    assert AugmentConfig.from_dict(AugmentConfig().to_dict()) == AugmentConfig()


def test_validation_excerpts_are_fixed(dataset):
    tracks = find_tracks(dataset)
    ex = validation_excerpts(tracks[:2], n_excerpts=3, seconds=2.0)
    assert [e.track for e in ex] == ["song_a", "song_a", "song_b"]
    assert all(e.stems.shape == (4, 2 * SAMPLE_RATE, 2) for e in ex)
    assert ex[0].start < ex[1].start
    again = validation_excerpts(tracks[:2], n_excerpts=3, seconds=2.0)
    assert all(np.array_equal(a.stems, b.stems) and a.start == b.start for a, b in zip(ex, again))
    np.testing.assert_array_equal(ex[2].stems[3], whole_file(tracks[1], 3)[ex[2].start:ex[2].start + 2 * SAMPLE_RATE])
    short = validation_excerpts(tracks[2:], n_excerpts=2, seconds=100.0)
    assert len(short) == 1 and short[0].stems.shape[1] == tracks[2].n_samples


def test_examples_from_stems_rejects_wrong_length():
    with pytest.raises(ValueError, match="excerpt"):
        examples_from_stems(np.zeros((4, 1000, 2), np.float32))


def test_silence_leaves_stems_out_but_never_all(dataset):
    """Source dropout: each stem silent with the given probability, its samples zero,
    the mixture the sum of the others; never an example with no stem at all."""
    tracks = find_tracks(dataset)
    sampler = ExampleSampler(tracks, AugmentConfig(silence_prob=0.5), seed=3)
    plans = [sampler.plan(i) for i in range(400)]
    silent = [[g == 0.0 for g in p.gains] for p in plans]
    assert 0.35 < np.mean([s for row in silent for s in row]) < 0.5  # less the kept stems
    assert not any(all(row) for row in silent)
    index = next(i for i, row in enumerate(silent) if any(row))
    stems, _ = sampler.stems(index)
    x, y, _ = sampler.example(index)
    for j in np.flatnonzero(silent[index]):
        assert not stems[j].any() and not y[j].any()
    np.testing.assert_allclose(x, excerpt_magnitudes(stems.sum(axis=0)), rtol=0, atol=MAG_ATOL)
    # without silence the random stream is that of runs made before the option existed
    plain = ExampleSampler(tracks, AugmentConfig(), seed=3)
    assert plain.plan(7) == ExampleSampler(tracks, AugmentConfig(silence_prob=0.0), seed=3).plan(7)
