"""Channels-last 2-D convolution with symmetric padding, and batch-norm folding.

Keras's channels-last convolution on torch transposes its input to NCHW
and back around `F.conv2d` (two full copies per call); torch's own
channels-last memory format needs neither. These ops give every backend
its fastest path with PyTorch's padding semantics.
"""

import keras
from keras import ops

from keras_segup.ops.dispatch import backend_ops
from keras_segup.ops.validation import check_conv2d_args


ACTIVATIONS = (None, "relu", "leaky_relu")


class Conv2D(keras.Operation):
    def __init__(self, strides, padding, dilation, activation, name=None):
        super().__init__(name=name)
        self.strides, self.padding, self.dilation = strides, padding, dilation
        self.activation = activation

    def call(self, x, kernel, bias=None):
        return backend_ops().conv2d(x, kernel, bias, self.strides, self.padding, self.dilation, self.activation)

    def compute_output_spec(self, x, kernel, bias=None):
        kh, kw, _, filters = kernel.shape
        spatial = [
            None if n is None else (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(x.shape[1:3], (kh, kw), self.strides, self.padding, self.dilation)
        ]
        return keras.KerasTensor((x.shape[0], *spatial, filters), dtype=x.dtype)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def conv2d(x, kernel, bias=None, strides=1, padding=0, dilation=1, activation=None):
    """`torch.nn.functional.conv2d` on channels-last tensors, with an optional activation.

    Args:
        x: tensor (B, H, W, C_in).
        kernel: tensor (kh, kw, C_in, C_out), the layout of a Keras `Conv2D`.
        bias: optional tensor (C_out,).
        strides: int or pair.
        padding: zeros added on each side, int or pair (rows, columns),
            as `nn.Conv2d(padding=p)`.
        dilation: int or pair.
        activation: None, `"relu"` or `"leaky_relu"` (slope 0.01), applied
            to the result (in place on torch, where the result is new).

    Returns:
        Tensor (B, H_out, W_out, C_out) of the dtype of `x`, with
        `H_out = (H + 2 p - d (kh - 1) - 1) // s + 1`.

    Example:
    >>> kernel = keras.ops.ones((3, 3, 8, 16))
    >>> conv2d(keras.ops.ones((1, 17, 23, 8)), kernel, padding=1).shape
    (1, 17, 23, 16)
    """
    strides, padding, dilation = _pair(strides), _pair(padding), _pair(dilation)
    check_conv2d_args(x, kernel, bias, strides, padding, dilation)
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {ACTIVATIONS}; got {activation!r}.")
    if any(isinstance(t, keras.KerasTensor) for t in (x, kernel, bias)):
        return Conv2D(strides, padding, dilation, activation).symbolic_call(x, kernel, bias)
    x = ops.convert_to_tensor(x)
    kernel = ops.cast(kernel, x.dtype)
    bias = None if bias is None else ops.cast(bias, x.dtype)
    return backend_ops().conv2d(x, kernel, bias, strides, padding, dilation, activation)


def fold_batch_norm(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon):
    """The kernel and bias of a convolution (or dense layer) followed by inference batch norm.

    `bn(conv(x, kernel) + bias) = conv(x, kernel * s) + (bias - mean) * s + beta`
    with `s = gamma / sqrt(variance + epsilon)`; computed in float32. On
    eager torch outside autograd the result is kept while its inputs are
    unchanged (the same tensors at the same version), so inference does
    not fold again at every call.

    Args:
        kernel: (..., C_out): (kh, kw, C_in, C_out) or a dense (C_in, C_out).
        bias: (C_out,) or None.
        gamma, beta: (C_out,), or None for a batch norm without scale
            (`scale=False`) or without offset (`center=False`).
        moving_mean, moving_variance: (C_out,) statistics.
        epsilon: the batch norm's epsilon.

    Returns:
        `(kernel, bias)` in float32.

    Example:
    >>> ones = keras.ops.ones((4,))
    >>> kernel, bias = fold_batch_norm(keras.ops.ones((1, 1, 2, 4)), None, ones, ones, ones, ones, 1e-5)
    >>> kernel.shape, bias.shape
    ((1, 1, 2, 4), (4,))
    """
    tensors = [None if t is None else ops.convert_to_tensor(t) for t in
               (kernel, bias, gamma, beta, moving_mean, moving_variance)]
    return backend_ops().fold_batch_norm(*tensors, epsilon)
