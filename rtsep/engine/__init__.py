"""The separation engine around any model: the model interface, the streaming
separator (:mod:`~rtsep.engine.streaming`), the offline one
(:mod:`~rtsep.engine.offline`), both built on the same hop (:mod:`~rtsep.engine.hop`),
and the oracle (ideal ratio masks from known stems).

Knows nothing of TensorFlow or JACK: a model is any callable
``model(mag (B, 1024, 192, 2)) -> est (B, 4, 1024, 192, 2)`` (:mod:`~rtsep.engine.model`).
"""

from rtsep.engine.config import StreamConfig
from rtsep.engine.model import Model, StatelessModel, as_model
from rtsep.engine.offline import OFFLINE_CONFIG, separate_array
from rtsep.engine.streaming import StreamingSeparator

__all__ = ["OFFLINE_CONFIG", "Model", "StatelessModel", "StreamConfig", "StreamingSeparator",
           "as_model", "separate_array"]
