"""Max pooling with PyTorch's padding and `ceil_mode`, on channels-last maps."""

import keras

from keras_segup.ops.dispatch import backend_ops
from keras_segup.ops.reference import max_pool2d_output_size


class MaxPool2D(keras.Operation):
    def __init__(self, pool_size, strides, padding, ceil_mode, name=None):
        super().__init__(name=name)
        self.pool_size, self.strides, self.padding, self.ceil_mode = pool_size, strides, padding, ceil_mode

    def call(self, x):
        return backend_ops().max_pool2d(x, self.pool_size, self.strides, self.padding, self.ceil_mode)

    def compute_output_spec(self, x):
        rows, cols = (
            max_pool2d_output_size(n, self.pool_size, self.strides, self.padding, self.ceil_mode) for n in x.shape[1:3]
        )
        return keras.KerasTensor((x.shape[0], rows, cols, x.shape[3]), dtype=x.dtype)


def max_pool2d(x, pool_size=3, strides=2, padding=1, ceil_mode=False):
    """`torch.nn.functional.max_pool2d` on a (B, H, W, C) tensor.

    PyTorch pads with -inf on both sides (Keras's "same" pads
    asymmetrically) and with `ceil_mode=True` keeps a last, partial window
    unless it would start in the padding. On torch this is torch's own
    kernel on its channels-last memory format (Keras's torch max-pool
    transposes to NCHW and back); on JAX and TensorFlow -inf padding, then
    Keras's "valid" max-pool; the portable path (export) repeats the border
    pixels instead of -inf, which gives the same maxima and a finite int8
    range.

    Args:
        x: tensor (B, H, W, C).
        pool_size: window size, an int.
        strides: step, an int.
        padding: rows and columns added on each side, at most `pool_size // 2`.
        ceil_mode: PyTorch's flag.

    Returns:
        Tensor (B, H_out, W_out, C).

    Example:
    >>> max_pool2d(keras.ops.ones((1, 9, 10, 4)), 3, 2, 1, ceil_mode=True).shape
    (1, 5, 6, 4)
    """
    for name, value, least in (("pool_size", pool_size, 1), ("strides", strides, 1), ("padding", padding, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"`{name}` must be an int >= {least}; got {value!r}.")
    if padding > pool_size // 2:
        raise ValueError(f"`padding` must be at most half of `pool_size` ({pool_size // 2}); got {padding}.")
    if len(x.shape) != 4:
        raise ValueError(f"`x` must have rank 4 with layout (batch, height, width, channels); got shape {x.shape}.")
    if isinstance(x, keras.KerasTensor):
        return MaxPool2D(pool_size, strides, padding, ceil_mode).symbolic_call(x)
    return backend_ops().max_pool2d(keras.ops.convert_to_tensor(x), pool_size, strides, padding, ceil_mode)
