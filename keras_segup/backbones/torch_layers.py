"""Layers that compute what PyTorch's padding conventions compute, for ported backbones."""

import keras

from keras_segup.ops import max_pool2d
from keras_segup.ops.reference import max_pool2d_output_size


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

    def call(self, x):
        return max_pool2d(x, self.pool_size, self.strides, self.padding, self.ceil_mode)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        rows, cols = (
            max_pool2d_output_size(n, self.pool_size, self.strides, self.padding, self.ceil_mode) for n in (height, width)
        )
        return (batch, rows, cols, channels)

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
