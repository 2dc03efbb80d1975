"""Portable `keras.ops` implementations of the ops.

They run on every backend and are the oracle the specialised versions are
tested against; the public functions in `keras_segup.ops` validate the
arguments, so these assume valid input. Coordinates are always computed in
float32, whatever the dtype of the features.
"""

import math

from keras import ops


def _unnormalize(coord, size, align_corners):
    """Maps [-1, 1] to pixel coordinates, as PyTorch's grid_sample does."""
    size = ops.cast(size, "float32")
    if align_corners:
        return (coord + 1.0) * 0.5 * (size - 1.0)
    return ((coord + 1.0) * size - 1.0) * 0.5


def _read(flat, base, iy, ix, height, width, out_shape):
    """Reads `flat[base + iy * width + ix]`, 0 where (iy, ix) is outside."""
    inside = (iy >= 0) & (iy <= height - 1) & (ix >= 0) & (ix <= width - 1)
    iy = ops.clip(iy, 0, height - 1)
    ix = ops.clip(ix, 0, width - 1)
    index = ops.reshape(base + iy * width + ix, (-1,))
    values = ops.reshape(ops.take(flat, index, axis=0), out_shape)
    return values * ops.cast(inside, flat.dtype)[..., None]


def grid_sample(x, grid, mode, padding_mode, align_corners):
    batch, height, width, channels = ops.shape(x)
    out_shape = tuple(ops.shape(grid)[:3]) + (channels,)
    grid = ops.cast(grid, "float32")
    gx = _unnormalize(grid[..., 0], width, align_corners)
    gy = _unnormalize(grid[..., 1], height, align_corners)
    if padding_mode == "border":
        gx = ops.clip(gx, 0.0, ops.cast(width - 1, "float32"))
        gy = ops.clip(gy, 0.0, ops.cast(height - 1, "float32"))
    flat = ops.reshape(x, (-1, channels))
    base = ops.reshape(ops.arange(batch, dtype="int32") * height * width, (-1, 1, 1))

    def read(iy, ix):
        return _read(flat, base, iy, ix, height, width, out_shape)

    if mode == "nearest":
        return read(
            ops.cast(ops.round(gy), "int32"), ops.cast(ops.round(gx), "int32")
        )
    x0, y0 = ops.floor(gx), ops.floor(gy)
    wx1, wy1 = gx - x0, gy - y0
    wx0, wy0 = 1.0 - wx1, 1.0 - wy1
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    out = 0.0
    for iy, ix, weight in (
        (y0, x0, wy0 * wx0),
        (y0, x0 + 1, wy0 * wx1),
        (y0 + 1, x0, wy1 * wx0),
        (y0 + 1, x0 + 1, wy1 * wx1),
    ):
        out = out + read(iy, ix) * ops.cast(weight, x.dtype)[..., None]
    return out


def nearest_cell_axis(in_size, out_size):
    """Nearest source index and offset, along one axis, for each target cell.

    Exact integer arithmetic: `index = floor((2i + 1) * in / (2 out))`,
    `offset = ((2i + 1) * in - (2 index + 1) * out) / out`, in source cells.

    Returns:
        `(index, offset)`: int32 (out_size,) and float32 (out_size,).
    """
    numerator = (2 * ops.arange(out_size, dtype="int32") + 1) * in_size
    index = numerator // (2 * out_size)
    offset = ops.cast(numerator - (2 * index + 1) * out_size, "float32")
    return index, offset / ops.cast(out_size, "float32")


def nearest_cell_offsets(height, width, size, dtype):
    """The (Ho, Wo, 2) offsets (y, x) of `nearest_cell`, and the indices."""
    iy, rel_y = nearest_cell_axis(height, size[0])
    ix, rel_x = nearest_cell_axis(width, size[1])
    offsets = ops.stack(
        [
            ops.broadcast_to(rel_y[:, None], size),
            ops.broadcast_to(rel_x[None, :], size),
        ],
        axis=-1,
    )
    return iy, ix, ops.cast(offsets, dtype)


def nearest_cell(x, size):
    _, height, width, _ = ops.shape(x)
    iy, ix, offsets = nearest_cell_offsets(height, width, size, x.dtype)
    features = ops.take(ops.take(x, iy, axis=1), ix, axis=2)
    return features, offsets


def repeat_cells(x, size):
    """`nearest_cell`'s features when Ho/H and Wo/W are integers: a broadcast repeat."""
    batch, height, width, channels = ops.shape(x)
    ry, rx = size[0] // height, size[1] // width
    repeated = ops.broadcast_to(
        x[:, :, None, :, None, :], (batch, height, ry, width, rx, channels)
    )
    return ops.reshape(repeated, (batch, size[0], size[1], channels))


def extract_windows(x, kernel_size, dilation):
    _, height, width, _ = ops.shape(x)
    pad = dilation * (kernel_size // 2)
    padded = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    windows = [
        padded[:, dy * dilation : dy * dilation + height, dx * dilation : dx * dilation + width, :]
        for dy in range(kernel_size)
        for dx in range(kernel_size)
    ]
    return ops.stack(windows, axis=3)


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


def resize_bilinear_taps(x, size, align_corners):
    """Two separable 2-tap gathers: every backend and exporter runs them."""
    x = _resize_axis(x, 1, size[0], align_corners)
    return _resize_axis(x, 2, size[1], align_corners)


def resize_bilinear(x, size, align_corners):
    """`ops.image.resize` (one RESIZE_BILINEAR in TFLite) where it has
    PyTorch's semantics (half-pixel centres, static sizes) and each side
    grows by a whole factor, else the taps. tf2onnx writes the resize as
    scales, and ONNX's shape inference floors `input * scale`: 33 -> 130
    became 129 and the export failed."""
    sides = (tuple(x.shape)[1:3], tuple(size))
    static = all(isinstance(n, int) for n in (*sides[0], *sides[1]))
    if not align_corners and static and all(out % n == 0 for n, out in zip(*sides)):
        return ops.image.resize(x, size, interpolation="bilinear", antialias=False)
    return resize_bilinear_taps(x, size, align_corners)


def activate(x, activation):
    """`x` through None, `"relu"` or `"leaky_relu"` (slope 0.01, PyTorch's default)."""
    if activation == "relu":
        return ops.relu(x)
    if activation == "leaky_relu":
        return ops.leaky_relu(x, negative_slope=0.01)
    return x


def conv2d(x, kernel, bias, strides, padding, dilation, activation=None):
    """Explicit zero padding, then Keras's "valid" convolution."""
    if any(padding):
        (ph, pw) = padding
        x = ops.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
    out = ops.conv(x, kernel, strides=strides, padding="valid", dilation_rate=dilation)
    return activate(out if bias is None else out + bias, activation)


def max_pool2d_extra(size, kernel, stride, padding, ceil_mode):
    """Rows (or columns) PyTorch's max-pool pads after the end beyond `padding`: 0 unless `ceil_mode`."""
    if not ceil_mode:
        return 0
    out = (size + 2 * padding - kernel + stride - 1) // stride + 1
    starts_outside = (out - 1) * stride >= size + padding  # then the last window is dropped
    out = out - (int(starts_outside) if isinstance(size, int) else ops.cast(starts_outside, "int32"))
    return (out - 1) * stride + kernel - size - 2 * padding


def max_pool2d_output_size(size, kernel, stride, padding, ceil_mode):
    """The rows (or columns) of PyTorch's max-pool of `size` rows; None for None."""
    if size is None:
        return None
    extra = max_pool2d_extra(size, kernel, stride, padding, ceil_mode)
    return (size + 2 * padding + extra - kernel) // stride + 1


def _pad_with_edges(x, axis, before, after):
    """`x` with its first slice along `axis` (1 or 2) repeated `before` times and its last `after` times."""
    index = [slice(None)] * 4
    index[axis] = slice(None, 1)
    first = x[tuple(index)]
    index[axis] = slice(-1, None)
    last = x[tuple(index)]
    parts = [first] * before + [x]
    if isinstance(after, int):
        parts += [last] * after
    else:  # an unknown size with `ceil_mode`: a tensor count
        parts.append(ops.repeat(last, after, axis=axis))
    return ops.concatenate(parts, axis=axis) if len(parts) > 1 else x


def max_pool2d(x, pool_size, strides, padding, ceil_mode, fill="edge"):
    """PyTorch's padding (and its `ceil_mode` rows and columns), then Keras's "valid" max-pool.

    PyTorch pads with -inf. Repeating the border pixels instead
    (`fill="edge"`) gives the same maxima: every window holds a pixel of the
    map, and the border pixel a padded one repeats lies between the two, so
    in the window. Edge padding keeps the padded map in the input's range,
    which int8 export needs (with -inf the quantized range is infinite and
    XNNPACK refuses the next convolution); XLA fuses `fill="-inf"` into
    the pool.
    """
    _, height, width, _ = ops.shape(x)
    extra = [max_pool2d_extra(n, pool_size, strides, padding, ceil_mode) for n in (height, width)]
    if fill == "-inf":
        pads = [[0, 0], [padding, padding + extra[0]], [padding, padding + extra[1]], [0, 0]]
        x = ops.pad(x, pads, constant_values=float("-inf"))
    else:
        x = _pad_with_edges(_pad_with_edges(x, 1, padding, padding + extra[0]), 2, padding, padding + extra[1])
    return ops.max_pool(x, pool_size, strides, padding="valid")


def fold_batch_norm(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon):
    """`(kernel * s, (bias - mean) * s + beta)` with `s = gamma / sqrt(variance + epsilon)`, float32."""
    def f32(t):
        return ops.cast(t, "float32")

    scale = ops.rsqrt(f32(moving_variance) + epsilon)
    if gamma is not None:
        scale = scale * f32(gamma)
    shift = -f32(moving_mean) if bias is None else f32(bias) - f32(moving_mean)
    shift = shift * scale
    if beta is not None:
        shift = shift + f32(beta)
    return f32(kernel) * scale, shift


def l2_normalize(x):
    """`x / max(||x||, 1e-12)` over the last axis, as in torch's `F.normalize`.

    Written as a product with `rsqrt`: TFLite's DIV kernel refused some
    all-zero feature vectors at run time.
    """
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, 1e-24))


def affine_channels(x, scale, shift):
    return x * scale + shift


def criss_cross_softmax(energy_col, energy_row):
    """One SOFTMAX op over the concatenated energies; no mask, no division.

    The concatenation holds the own pixel twice (in the column and in the
    row, with equal energies, weighting the same value vector). Lowering
    both copies by log 2 gives the pair the weight of one entry, so the
    softmax over H + W entries equals CCNet's over H + W - 1, with the
    weights already normalised. Integer TFLite runs this well: its
    SOFTMAX has a fixed output scale, where int8 DIV refuses divisors
    whose raw value is 0 and -inf cannot be quantized.
    """
    height, width = ops.shape(energy_col)[-1], ops.shape(energy_row)[-1]
    halve = math.log(2.0)
    energy_col = energy_col - halve * ops.eye(height, dtype=energy_col.dtype)[None, :, None, :]
    energy_row = energy_row - halve * ops.eye(width, dtype=energy_row.dtype)[None, None, :, :]
    weights = ops.softmax(ops.concatenate([energy_col, energy_row], axis=-1), axis=-1)
    return weights[..., :height], weights[..., height:], None


def criss_cross_exponentials(energy_col, energy_row):
    """The same weights without concatenating the energies (less memory traffic).

    A shared maximum and sum; the own pixel is left out by a 0/1 factor
    after the exponential (the maximum may include it, since it equals the
    row's own entry, which the softmax keeps).
    """
    peak = ops.maximum(
        ops.max(energy_col, axis=-1, keepdims=True), ops.max(energy_row, axis=-1, keepdims=True)
    )
    own = ops.eye(ops.shape(energy_col)[-1], dtype=energy_col.dtype)[None, :, None, :]
    col = ops.exp(energy_col - peak) * (1.0 - own)
    row = ops.exp(energy_row - peak)
    total = ops.sum(col, axis=-1, keepdims=True) + ops.sum(row, axis=-1, keepdims=True)
    return col, row, 1.0 / total


def map_row_blocks(block, height, rows):
    """A Python loop over the blocks, concatenated."""
    blocks = [block(start, min(rows, height - start)) for start in range(0, height, rows)]
    return blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=1)


def host_array(x):
    """`x` as a new numpy array (Keras's own conversion)."""
    return ops.convert_to_numpy(x)
