"""TensorBoard summaries, written without the tensorboard package."""

from __future__ import annotations


def writer(logdir, enabled: bool = True):
    """A ``tf.summary`` file writer into ``logdir`` (a no-op writer when not ``enabled``)."""
    import tensorflow as tf

    return tf.summary.create_file_writer(str(logdir)) if enabled else tf.summary.create_noop_writer()


def scalar(tag: str, value: float, step: int) -> None:
    """``tf.summary.scalar`` without needing the tensorboard package to write.

    Writes the same event (scalars plugin metadata, a float32 scalar tensor) to the
    default summary writer, so TensorBoard shows it as a scalar curve.

    Parameters
    ----------
    tag : str
        E.g. ``"train/loss"``.
    value : float
    step : int
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars", content=b""),
        data_class=summary_pb2.DATA_CLASS_SCALAR)
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step), metadata=meta)
