"""keras_segup: real-time semantic segmentation decoders for Keras 3.

Runs unchanged under `KERAS_BACKEND=jax|torch|tensorflow`.

Public API: `keras_segup.ops` (the gathers), `keras_segup.layers`,
`keras_segup.models` (decode heads) and `keras_segup.convert` (official
PyTorch checkpoints).
"""

from keras_segup import convert
from keras_segup import layers
from keras_segup import models
from keras_segup import ops

__version__ = "0.1.0"

__all__ = ["convert", "layers", "models", "ops", "__version__"]
