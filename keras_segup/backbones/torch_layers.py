"""Layers that compute what PyTorch's padding conventions compute, for ported backbones."""

import keras
from keras import ops


def _pool_extra(size, kernel, stride, padding, ceil_mode):
    """Rows (or columns) of -inf PyTorch's max-pool adds after the end: 0 unless ceil_mode."""
    if not ceil_mode:
        return 0
    out = (size + 2 * padding - kernel + stride - 1) // stride + 1
    starts_outside = (out - 1) * stride >= size + padding  # then the last window is dropped
    out = out - (int(starts_outside) if isinstance(size, int) else ops.cast(starts_outside, "int32"))
    return (out - 1) * stride + kernel - size - 2 * padding


@keras.saving.register_keras_serializable(package="keras_segup")
class TorchMaxPool2D(keras.layers.Layer):
    """`torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode)` on channels-last maps.

    PyTorch pads with -inf (Keras's "same" pads asymmetrically and, before a
    LeakyReLU stem, values can be negative), and with `ceil_mode=True` keeps
    a last, partial window.

    Args:
        pool_size: kernel size.
        strides: stride.
        padding: symmetric padding.
        ceil_mode: PyTorch's flag.
        **kwargs: base layer arguments.

    Example:
    >>> TorchMaxPool2D(3, 2, 1, ceil_mode=True)(keras.ops.ones((1, 9, 10, 4))).shape
    (1, 5, 6, 4)
    """

    def __init__(self, pool_size=3, strides=2, padding=1, ceil_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding
        self.ceil_mode = ceil_mode

    def _extra(self, size):
        return _pool_extra(size, self.pool_size, self.strides, self.padding, self.ceil_mode)

    def call(self, x):
        _, height, width, _ = ops.shape(x)
        p = self.padding
        pads = [[0, 0], [p, p + self._extra(height)], [p, p + self._extra(width)], [0, 0]]
        x = ops.pad(x, pads, constant_values=float("-inf"))
        return ops.max_pool(x, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape

        def out(n):
            if n is None:
                return None
            return (n + 2 * self.padding + self._extra(n) - self.pool_size) // self.strides + 1

        return (batch, out(height), out(width), channels)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "ceil_mode": self.ceil_mode,
        }


@keras.saving.register_keras_serializable(package="keras_segup")
class Subsample2D(keras.layers.Layer):
    """Every `stride`-th row and column, from the first.

    A PyTorch convolution with both stride s > 1 and dilation d = m * s
    (IFA's multi-grid layer4: s = d = 2) reads every s-th row of its padded
    input: this, then a convolution dilated by m, computes it exactly and
    without waste (Keras convolutions take a stride or a dilation).

    Args:
        stride: the step.
        **kwargs: base layer arguments.
    """

    def __init__(self, stride=2, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, x):
        return x[:, :: self.stride, :: self.stride, :]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape

        def out(n):
            return None if n is None else -(-n // self.stride)

        return (batch, out(height), out(width), channels)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}
