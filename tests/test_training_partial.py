"""Partial labels: accompaniment tracks (vocals + accompaniment only) in training.

Real files, real TensorFlow; the loss checks are exact properties of the formula
(float32, 1e-6 relative).
"""

from __future__ import annotations

import numpy as np
import pytest

from rtsep.errors import ConfigError, DatasetError
from rtsep.training.data import AugmentConfig, ExampleSampler
from rtsep.training.excerpts import EXCERPT_SAMPLES
from rtsep.training.tracks import find_tracks, split_tracks
from rtsep.training.losses import LOSSES, per_example_loss
from stems import synth_stems, write_track  # tests/stems.py


@pytest.fixture
def mixed(tmp_path):
    """Three full tracks and two accompaniment tracks."""
    rng = np.random.default_rng(5)
    root = tmp_path / "mixed"
    for k in range(3):
        write_track(root / f"full{k}", synth_stems(rng, EXCERPT_SAMPLES + 10_000))
    for k in range(2):
        s = synth_stems(rng, EXCERPT_SAMPLES + 20_000)
        write_track(root / f"acc{k}", {"vocals": s["vocals"],
                                       "accompaniment": s["drums"] + s["bass"] + s["other"]})
    return root


def test_tracks_of_both_kinds_are_found_and_only_full_ones_validated(mixed):
    tracks = find_tracks(mixed)
    assert sorted((t.name, t.kind) for t in tracks) == [
        ("acc0", "accompaniment"), ("acc1", "accompaniment"),
        ("full0", "full"), ("full1", "full"), ("full2", "full")]
    train, val = split_tracks(tracks, val_fraction=0.34, seed=0)
    assert val and all(t.full for t in val)
    assert {"acc0", "acc1"} <= {t.name for t in train}


def test_accompaniment_examples_hold_vocals_and_accompaniment(mixed):
    tracks = find_tracks(mixed)
    sampler = ExampleSampler(tracks, seed=3, partial_fraction=1.0, target="magnitude")
    for i in range(4):
        plan = sampler.plan(i)
        assert not plan.full and len(plan.tracks) == 2
        assert not tracks[plan.tracks[1]].full        # the accompaniment is its own track's
        stems, full = sampler.stems(i)
        assert not full and not stems[2:].any() and stems[1].any()
        x, y, f = sampler.example(i)
        assert f == 0.0 and not y[2:].any()
    full_only = ExampleSampler(tracks, seed=3, partial_fraction=0.0)
    assert all(full_only.plan(i).full for i in range(6))
    half = ExampleSampler(tracks, seed=3, partial_fraction=0.5)
    kinds = [half.plan(i).full for i in range(200)]
    assert 60 < sum(kinds) < 140


def test_instrumental_examples_are_the_music_alone(mixed):
    """--instrumental-prob: an accompaniment example without its vocals is the real
    music alone with a silent vocals target; full examples are untouched, and 0 keeps
    the random stream of earlier runs."""
    tracks = find_tracks(mixed)
    half = ExampleSampler(tracks, AugmentConfig(silence_prob=0.3, instrumental_prob=0.5),
                          seed=3, partial_fraction=0.5)
    base = ExampleSampler(tracks, AugmentConfig(silence_prob=0.3), seed=3, partial_fraction=0.5)
    plans = [(half.plan(i), base.plan(i)) for i in range(300)]
    partial = [(p, q) for p, q in plans if not p.full]
    music_alone = [p for p, _ in partial if p.gains[0] == 0.0]
    assert all(p.gains[1] > 0.0 for p in music_alone)                  # never both left out
    assert any(p.gains[1] == 0.0 for p, _ in partial)                   # silence still drops music
    assert 0.45 < len(music_alone) / len(partial) < 0.8                # 0.5 + silence's share
    assert all(p == q for p, q in plans if p.full)                      # full examples untouched
    assert all(p.tracks == q.tracks and p.starts == q.starts for p, q in partial)
    i = next(i for i, (p, _) in enumerate(plans) if not p.full and p.gains[0] == 0.0)
    stems, full = half.stems(i)
    x, y, f = half.example(i)
    assert not full and not stems[0].any() and stems[1].any() and not y[0].any()
    zero = ExampleSampler(tracks, AugmentConfig(silence_prob=0.3, instrumental_prob=0.0),
                          seed=3, partial_fraction=0.5)
    assert [zero.plan(i) for i in range(50)] == [q for _, q in plans[:50]]


def test_partial_fraction_needs_the_tracks_it_asks_for(mixed, tmp_path):
    rng = np.random.default_rng(1)
    write_track(tmp_path / "only" / "t", synth_stems(rng, EXCERPT_SAMPLES))
    with pytest.raises(DatasetError, match="no accompaniment"):
        ExampleSampler(find_tracks(tmp_path / "only"), partial_fraction=0.3)
    with pytest.raises(ConfigError, match="partial_fraction"):
        ExampleSampler(find_tracks(mixed), partial_fraction=1.5)


@pytest.mark.parametrize("kind", LOSSES)
def test_the_loss_supervises_only_vocals_and_accompaniment_of_partial_examples(kind):
    """Moving energy between drums, bass and other (their sum kept) changes a full
    example's loss, not an accompaniment example's; changing the vocals changes both."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    shape = (2, 4, 1024, 8, 2)
    x = rng.uniform(0.5, 2.0, (2, 1024, 8, 2)).astype(np.float32)
    est = rng.uniform(0.1, 1.0, shape).astype(np.float32)
    y = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    y[1, 2:] = 0.0
    full = np.array([1.0, 0.0], np.float32)
    moved = est.copy()  # half of the bass moved to the drums: their sum is kept
    moved[:, 1] += 0.5 * est[:, 2]
    moved[:, 2] -= 0.5 * est[:, 2]
    louder = est.copy()
    louder[:, 0] *= 1.5
    loss = per_example_loss(kind)
    base = loss(tf.constant(est), tf.constant(y), tf.constant(x), tf.constant(full)).numpy()
    mv = loss(tf.constant(moved), tf.constant(y), tf.constant(x), tf.constant(full)).numpy()
    lv = loss(tf.constant(louder), tf.constant(y), tf.constant(x), tf.constant(full)).numpy()
    assert abs(mv[1] - base[1]) <= 1e-6 * base[1]
    assert abs(mv[0] - base[0]) > 1e-4 * base[0]
    assert abs(lv[1] - base[1]) > 1e-4 * base[1] and abs(lv[0] - base[0]) > 1e-4 * base[0]
    # with every example full, the flag changes nothing
    both = loss(tf.constant(est), tf.constant(y), tf.constant(x), tf.constant(np.ones(2, np.float32)))
    np.testing.assert_allclose(both.numpy(), loss(tf.constant(est), tf.constant(y), tf.constant(x)).numpy())


def test_a_tiny_model_trains_on_a_mixed_dataset(mixed, tmp_path):
    from rtsep.training.config import TrainConfig
    from rtsep.training.loop import train

    losses = []
    cfg = TrainConfig(data=str(mixed), out=str(tmp_path / "out"), arch="stream_hybrid", size="tiny",
                      steps=4, batch_size=2, lr=3e-3, warmup_steps=0, val_fraction=0.34,
                      val_every=0, val_excerpts=1, val_seconds=2.0, checkpoint_every=0,
                      log_every=2, loss="psa", partial_fraction=0.5)
    train(cfg, on_step=lambda step, loss: losses.append(loss))
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert (tmp_path / "out" / "config.json").is_file()
