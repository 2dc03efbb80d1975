"""Fake quantization: float tensors rounded to TFLite's int8 grids, with straight-through gradients.

The grids are those of TFLite's full-integer files, so that a network fine-tuned
through them sees the rounding its int8 file will apply:
- weights: symmetric, per output channel, integers -127..127 (scale = max |w| / 127);
- activations: asymmetric, per tensor, integers -128..127 over a range that
  holds 0 (scale = (high - low) / 255, zero point rounded onto the grid).

The rounding has no gradient; the straight-through estimator passes the
gradient of the rounded value to the float one unchanged (for activations,
only inside the range: values clipped to it get none).
"""

from keras import ops


def fake_quantize_weights(kernel, channel_axes=(-1,)):
    """`kernel` rounded to int8 per channel of `channel_axes` (symmetric, -127..127).

    Args:
        kernel: a convolution or dense kernel.
        channel_axes: the axes that index output channels: `(-1,)` for
            `Conv2D` and `Dense` kernels, `(-2, -1)` for `DepthwiseConv2D`
            (TFLite's channels are input x multiplier), `(-2,)` for
            `Conv2DTranspose`.

    Returns:
        A tensor of `kernel`'s shape on the int8 grid; its gradient is the
        identity (straight through).

    Example:
    >>> w = keras.ops.convert_to_tensor([[0.5, -2.0], [0.25, 0.9]])
    >>> q = keras.ops.convert_to_numpy(fake_quantize_weights(w))  # steps of 0.5/127 and 2/127
    >>> [[round(float(v), 4) for v in row] for row in q]
    [[0.5, -2.0], [0.252, 0.8976]]
    """
    kernel = ops.convert_to_tensor(kernel)
    rank = len(kernel.shape)
    kept = {axis % rank for axis in channel_axes}
    reduced = tuple(axis for axis in range(rank) if axis not in kept)
    scale = ops.max(ops.abs(kernel), axis=reduced, keepdims=True) / 127.0
    scale = ops.where(scale > 0, scale, ops.ones_like(scale))
    rounded = ops.round(kernel / scale) * scale
    return kernel + ops.stop_gradient(rounded - kernel)


def activation_grid(low, high):
    """`(scale, zero_point)` of TFLite's int8 activation grid for the range `[low, high]`.

    The range is widened to hold 0 (so that 0 is exact, as TFLite requires);
    the zero point is an integer in -128..127.
    """
    low = ops.minimum(low, 0.0)
    high = ops.maximum(high, 0.0)
    scale = ops.maximum((high - low) / 255.0, 1e-8)
    zero_point = ops.clip(ops.round(-128.0 - low / scale), -128.0, 127.0)
    return scale, zero_point


def fake_quantize_activations(x, low, high):
    """`x` rounded to TFLite's int8 grid for the range `[low, high]` (asymmetric, per tensor).

    Args:
        x: a float tensor.
        low, high: scalars, the calibrated range.

    Returns:
        A tensor of `x`'s shape and dtype: values clipped to the grid's range
        and rounded to its steps. The gradient is 1 inside the range and 0
        outside.

    Example:
    >>> x = keras.ops.convert_to_tensor([-1.0, 0.3, 5.0])
    >>> y = keras.ops.convert_to_numpy(fake_quantize_activations(x, 0.0, 2.55))
    >>> [round(float(v), 4) for v in y]
    [0.0, 0.3, 2.55]
    """
    dtype = x.dtype
    x = ops.cast(x, "float32")
    scale, zero_point = activation_grid(ops.cast(low, "float32"), ops.cast(high, "float32"))
    clipped = ops.minimum(ops.maximum(x, (-128.0 - zero_point) * scale), (127.0 - zero_point) * scale)
    # halves round up, as TensorFlow's fake quantization; within the clipped range
    # the integer (x / scale rounded) + zero_point stays in -128..127
    rounded = ops.floor(clipped / scale + 0.5) * scale
    return ops.cast(clipped + ops.stop_gradient(rounded - clipped), dtype)
