"""Normalisation along the channel axis, written the way every exporter accepts."""

import keras

from keras_segup.ops import reference
from keras_segup.ops.dispatch import backend_ops


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


def affine_channels(x, scale, shift):
    """`x * scale + shift` with per-channel (last axis) `scale` and `shift`: inference batch norm.

    One pass on every backend (torch: `torch.addcmul`; Keras's torch batch
    norm makes three).

    Args:
        x: tensor (..., C).
        scale: (C,).
        shift: (C,).

    Returns:
        Tensor of the shape and dtype of `x`.

    Example:
    >>> affine_channels(keras.ops.ones((2, 3, 4)), keras.ops.ones((4,)), keras.ops.zeros((4,))).shape
    (2, 3, 4)
    """
    if isinstance(x, keras.KerasTensor):
        return reference.affine_channels(x, scale, shift)
    x = keras.ops.convert_to_tensor(x)
    scale, shift = keras.ops.cast(scale, x.dtype), keras.ops.cast(shift, x.dtype)
    return backend_ops().affine_channels(x, scale, shift)
