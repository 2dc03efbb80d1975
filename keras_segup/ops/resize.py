"""Bilinear resizing with PyTorch's `align_corners` semantics, on every backend."""

import keras

from keras_segup.ops import reference
from keras_segup.ops.dispatch import backend_ops
from keras_segup.ops.validation import static_size


class ResizeBilinear(keras.Operation):
    def __init__(self, size, align_corners, name=None):
        super().__init__(name=name)
        self.size, self.align_corners = size, align_corners

    def call(self, x):
        return backend_ops().resize_bilinear(x, self.size, self.align_corners)

    def compute_output_spec(self, x):
        return keras.KerasTensor((x.shape[0], *self.size, x.shape[3]), dtype=x.dtype)


def resize_bilinear(x, size, align_corners=False):
    """Bilinear resize of (B, H, W, C) `x` to `size`, as `F.interpolate` does.

    Each backend runs its fastest exact kernel: torch `F.interpolate` on its
    channels-last memory format, JAX two separable 2-tap gathers (one XLA
    computation), TensorFlow its resize kernels. The portable version
    (exporters) is `keras.ops.image.resize` for half-pixel centres; for
    `align_corners=True` (FANet, IFA) and for sizes only known at run time
    (a TensorFlow graph traced with None height or width) it is the 2-tap
    gathers, which every backend and exporter supports.

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
    if static is None:
        return reference.resize_bilinear_taps(x, tuple(size), align_corners)
    if tuple(x.shape[1:3]) == static:
        return x
    if isinstance(x, keras.KerasTensor):
        return ResizeBilinear(static, align_corners).symbolic_call(x)
    return backend_ops().resize_bilinear(keras.ops.convert_to_tensor(x), static, align_corners)
