"""Normalisation along the channel axis, written the way every exporter accepts."""

import keras

from keras_segup.ops import reference


def l2_normalize(x):
    """`x / max(||x||, 1e-12)` over the last axis, as in torch's `F.normalize`.

    Portable on every backend (a product with `rsqrt`, which TFLite runs
    where its DIV kernel refused all-zero vectors).

    Args:
        x: float tensor (..., C).

    Returns:
        Tensor of the shape and dtype of `x`, unit length along the last axis.

    Example:
    >>> l2_normalize(keras.ops.ones((2, 4))).shape
    (2, 4)
    """
    if not isinstance(x, keras.KerasTensor):
        x = keras.ops.convert_to_tensor(x)
    return reference.l2_normalize(x)
