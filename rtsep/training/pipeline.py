"""The ``tf.data`` pipeline over :class:`rtsep.training.data.ExampleSampler` (TensorFlow
is imported only when a pipeline is made).

Example ``i`` of the stream depends only on the sampler and ``i``, so a pipeline can
start anywhere (``start_index``: resuming) and several input pipelines can each make
only their own share of it (distributed training, :func:`sharded_example_index`).
"""

from __future__ import annotations

from rtsep.constants import MODEL_BINS, MODEL_FRAMES, N_CHANNELS, N_STEMS
from rtsep.errors import ConfigError
from rtsep.training.data import ExampleSampler


def sharded_example_index(local_index: int, *, batch_size: int, start_index: int = 0,
                          shard_index: int = 0, num_shards: int = 1, replicas_per_shard: int = 1) -> int:
    """Which example of the global stream a shard's ``local_index``-th example is.

    The global stream is cut into blocks of ``batch_size`` (one replica's batch);
    a step takes ``num_shards * replicas_per_shard`` consecutive blocks, of which
    shard ``k`` (an input pipeline feeding ``replicas_per_shard`` replicas, one block
    each, in turn) takes blocks ``k*r .. k*r + r - 1``. With one shard and one
    replica this is ``start_index + local_index``; together the shards take every
    example exactly once.
    """
    r = int(replicas_per_shard)
    block, offset = divmod(int(local_index), int(batch_size))
    step, slot = divmod(block, r)
    global_block = step * int(num_shards) * r + int(shard_index) * r + slot
    return int(start_index) + global_block * int(batch_size) + offset


def make_dataset(sampler: ExampleSampler, *, batch_size: int, start_index: int = 0,
                 workers: int = 2, prefetch_batches: int = 2, shard_index: int = 0,
                 num_shards: int = 1, replicas_per_shard: int = 1):
    """An endless ``tf.data.Dataset`` of batches, starting at example ``start_index``.

    Examples are made by ``workers`` parallel calls (Python threads inside tf.data;
    reading, numpy and FFTW release the GIL), kept in order (deterministic). For
    distributed training, each input pipeline makes only its own share of the
    stream (see :func:`sharded_example_index`).

    Returns
    -------
    tf.data.Dataset yielding ``(x, y, full)`` with x float32 (batch_size, 1024, 192, 2),
    y float32 (batch_size, 4, 1024, 192, 2), full float32 (batch_size,) (1: every stem
    known; 0: an accompaniment example, see :mod:`rtsep.training.data`).
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 <= shard_index < num_shards or replicas_per_shard < 1:
        raise ConfigError(f"bad shard {shard_index} of {num_shards} ({replicas_per_shard} replicas each)")

    def _make(j):
        return sampler.example(sharded_example_index(
            int(j), batch_size=batch_size, start_index=start_index, shard_index=shard_index,
            num_shards=num_shards, replicas_per_shard=replicas_per_shard))

    def _map(j):
        x, y, full = tf.numpy_function(_make, [j], (tf.float32, tf.float32, tf.float32),
                                       stateful=False)
        x.set_shape((MODEL_BINS, MODEL_FRAMES, N_CHANNELS))
        y.set_shape((N_STEMS, MODEL_BINS, MODEL_FRAMES, N_CHANNELS))
        full.set_shape(())
        return x, y, full

    ds = tf.data.Dataset.range(0, 2 ** 62)
    ds = ds.map(_map, num_parallel_calls=max(1, int(workers)), deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.prefetch(max(1, int(prefetch_batches)))
    opts = tf.data.Options()
    # the shards are made here (each pipeline makes only its examples): no auto-sharding
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(opts)
