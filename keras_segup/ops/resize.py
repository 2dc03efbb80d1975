"""Bilinear resizing with PyTorch's `align_corners` semantics, on every backend."""

from keras import ops

from keras_segup.ops import reference
from keras_segup.ops.validation import static_size


def resize_bilinear(x, size, align_corners=False):
    """Bilinear resize of (B, H, W, C) `x` to `size`, as `F.interpolate` does.

    `align_corners=False` (half-pixel centres) uses `keras.ops.image.resize`;
    `align_corners=True` (corner pixels aligned, FANet and IFA), and any
    size only known at run time (a TensorFlow graph traced with None
    height or width, where `ops.image.resize` fails), are computed as two
    separable 2-tap gathers, which every backend and exporter supports.

    Args:
        x: tensor (B, H, W, C).
        size: `(out_height, out_width)`, ints (or scalar tensors in a
            TensorFlow graph with unknown sizes).
        align_corners: PyTorch's flag.

    Returns:
        Tensor (B, out_height, out_width, C).

    Example:
    >>> resize_bilinear(keras.ops.ones((1, 9, 13, 3)), (33, 49), align_corners=True).shape
    (1, 33, 49, 3)
    """
    static = static_size(tuple(size))
    if static is not None and tuple(x.shape[1:3]) == static:
        return x
    if static is not None and not align_corners:
        return ops.image.resize(x, static, interpolation="bilinear", antialias=False)
    return reference.resize_bilinear(x, static or tuple(size), align_corners)
