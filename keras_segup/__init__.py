"""keras_segup: real-time semantic segmentation decoders for Keras 3.

Runs unchanged under `KERAS_BACKEND=jax|torch|tensorflow`.
"""

from keras_segup import ops

__version__ = "0.1.0"

__all__ = ["ops", "__version__"]
