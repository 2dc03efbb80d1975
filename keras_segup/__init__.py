"""keras_segup: real-time semantic segmentation decoders for Keras 3.

Runs unchanged under `KERAS_BACKEND=jax|torch|tensorflow`.

Public API: `keras_segup.ops` (the gathers), `keras_segup.layers`,
`keras_segup.models` (heads and segmenters), `keras_segup.data` (tf.data
pipelines), `keras_segup.losses`, `keras_segup.metrics`,
`keras_segup.inference` (sliding window, multi-scale), `keras_segup.evaluate`
and `keras_segup.convert` (official PyTorch checkpoints).
"""

from keras_segup import convert
from keras_segup import data
from keras_segup import datasets_info
from keras_segup import inference
from keras_segup import layers
from keras_segup import losses
from keras_segup import metrics
from keras_segup import models
from keras_segup import ops
from keras_segup import training
from keras_segup import visualize
from keras_segup.evaluation import evaluate

__version__ = "0.1.0"

__all__ = [
    "convert",
    "data",
    "datasets_info",
    "evaluate",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "training",
    "visualize",
    "__version__",
]
