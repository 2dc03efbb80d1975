"""Bilinear resizing with PyTorch's `align_corners` semantics, on every backend."""

from keras import ops


def _static(n):
    """A Python int where the size is known, else the (graph) tensor."""
    try:
        return int(n)
    except TypeError:
        return n


def _axis_taps(in_size, out_size, align_corners):
    """Source rows (i0, i1) and the weight of i1 for each output row."""
    position = ops.cast(ops.arange(out_size), "float32")
    in_float = ops.cast(in_size, "float32")
    out_float = ops.cast(out_size, "float32")
    if align_corners:
        scale = (in_float - 1.0) / ops.maximum(out_float - 1.0, 1.0)
        source = position * scale
    else:
        source = (position + 0.5) * (in_float / out_float) - 0.5
    source = ops.clip(source, 0.0, in_float - 1.0)
    lower = ops.floor(source)
    weight = source - lower
    lower = ops.cast(lower, "int32")
    upper = ops.minimum(lower + 1, ops.cast(in_size, "int32") - 1)
    return lower, upper, weight


def _resize_axis(x, axis, out_size, align_corners):
    lower, upper, weight = _axis_taps(ops.shape(x)[axis], out_size, align_corners)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    weight = ops.reshape(ops.cast(weight, x.dtype), shape)
    low = ops.take(x, lower, axis=axis)
    return low + (ops.take(x, upper, axis=axis) - low) * weight


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
    """
    size = tuple(_static(n) for n in size)
    static = all(isinstance(n, int) for n in size)
    if static and tuple(x.shape[1:3]) == size:
        return x
    if static and not align_corners:
        return ops.image.resize(x, size, interpolation="bilinear", antialias=False)
    x = _resize_axis(x, 1, size[0], align_corners)
    return _resize_axis(x, 2, size[1], align_corners)
