"""rtsep.training.pipeline: the tf.data stream equals the sampler's examples; shards
cover the stream once."""

import numpy as np
import pytest

from rtsep.constants import MODEL_BINS, MODEL_FRAMES
from rtsep.training.data import ExampleSampler
from rtsep.training.excerpts import EXCERPT_SAMPLES
from rtsep.training.tracks import find_tracks
from rtsep.training.pipeline import make_dataset, sharded_example_index
from stems import synth_stems, write_track  # tests/stems.py


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(5)
    for name in ("song_a", "song_b"):
        write_track(tmp_path / name, synth_stems(rng, EXCERPT_SAMPLES + 10_000))
    return tmp_path


def test_tf_dataset_matches_sampler(dataset):
    tracks = find_tracks(dataset)
    sampler = ExampleSampler(tracks, seed=9)
    ds = make_dataset(sampler, batch_size=2, start_index=6, workers=2)
    x, y, full = next(iter(ds))
    assert x.shape == (2, MODEL_BINS, MODEL_FRAMES, 2) and x.dtype.name == "float32"
    assert y.shape == (2, 4, MODEL_BINS, MODEL_FRAMES, 2) and y.dtype.name == "float32"
    np.testing.assert_array_equal(full.numpy(), [1.0, 1.0])
    for k in range(2):
        ex, ey, _ = sampler.example(6 + k)
        np.testing.assert_array_equal(x[k].numpy(), ex)
        np.testing.assert_array_equal(y[k].numpy(), ey)


def test_sharded_example_index_covers_the_stream_once():
    b, start = 3, 12
    assert [sharded_example_index(j, batch_size=b, start_index=start) for j in range(7)] == list(range(12, 19))
    for shards, reps in ((2, 1), (3, 2), (1, 4)):
        seen = []
        for k in range(shards):
            seen += [sharded_example_index(j, batch_size=b, start_index=start, shard_index=k,
                                           num_shards=shards, replicas_per_shard=reps)
                     for j in range(b * reps * 5)]  # 5 steps
        assert sorted(seen) == list(range(start, start + 5 * b * shards * reps))
        # step 0 of every shard lies in the first global batch
        first = [sharded_example_index(0, batch_size=b, start_index=start, shard_index=k,
                                       num_shards=shards, replicas_per_shard=reps) for k in range(shards)]
        assert max(first) < start + b * shards * reps
