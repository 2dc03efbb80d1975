"""JAX implementations of the ops, each one jitted XLA computation.

XLA fuses each gather with the arithmetic around it, so the output is
written once; eager `keras.ops` materialises every intermediate.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from keras_segup.ops import reference


def _unnormalize(coord, size, align_corners):
    if align_corners:
        return (coord + 1.0) * 0.5 * (size - 1)
    return ((coord + 1.0) * size - 1.0) * 0.5


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def grid_sample(x, grid, mode, padding_mode, align_corners):
    batch, height, width, channels = x.shape
    grid = grid.astype(jnp.float32)
    gx = _unnormalize(grid[..., 0], width, align_corners)
    gy = _unnormalize(grid[..., 1], height, align_corners)
    if padding_mode == "border":
        gx = jnp.clip(gx, 0.0, width - 1.0)
        gy = jnp.clip(gy, 0.0, height - 1.0)
    # one extra zero row: taps outside the image read it, no masking needed
    flat = jnp.concatenate(
        [x.reshape(-1, channels), jnp.zeros((1, channels), x.dtype)]
    )
    base = (jnp.arange(batch) * height * width)[:, None, None]
    outside = batch * height * width

    def read(iy, ix):
        inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
        return flat[jnp.where(inside, base + iy * width + ix, outside)]

    if mode == "nearest":
        return read(
            jnp.round(gy).astype(jnp.int32), jnp.round(gx).astype(jnp.int32)
        )
    x0, y0 = jnp.floor(gx), jnp.floor(gy)
    wx1, wy1 = (gx - x0)[..., None], (gy - y0)[..., None]
    wx0, wy0 = 1.0 - wx1, 1.0 - wy1
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
    out = (
        read(y0, x0) * (wy0 * wx0)
        + read(y0, x0 + 1) * (wy0 * wx1)
        + read(y0 + 1, x0) * (wy1 * wx0)
        + read(y0 + 1, x0 + 1) * (wy1 * wx1)
    )
    return out.astype(x.dtype)


def _axis(in_size, out_size):
    numerator = (2 * np.arange(out_size) + 1) * in_size
    index = numerator // (2 * out_size)
    offset = (numerator - (2 * index + 1) * out_size) / out_size
    return index.astype(np.int32), offset.astype(np.float32)


@functools.partial(jax.jit, static_argnums=1)
def nearest_cell(x, size):
    height, width = x.shape[1:3]
    iy, rel_y = _axis(height, size[0])
    ix, rel_x = _axis(width, size[1])
    offsets = np.stack(np.meshgrid(rel_y, rel_x, indexing="ij"), axis=-1)
    if size[0] % height == 0 and size[1] % width == 0:
        features = reference.repeat_cells(x, size)
    else:
        features = x[:, iy[:, None], ix[None, :]]
    return features, jnp.asarray(offsets, x.dtype)


@functools.partial(jax.jit, static_argnums=(1, 2))
def extract_windows(x, kernel_size, dilation):
    batch, height, width, channels = x.shape
    pad = dilation * (kernel_size // 2)
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    taps = dilation * np.arange(kernel_size)
    rows = np.arange(height)[:, None] + taps[None, :]
    cols = np.arange(width)[:, None] + taps[None, :]
    # one gather (B, H, W, k, k, C): much faster on XLA:CPU than stacked slices
    windows = padded[:, rows[:, None, :, None], cols[None, :, None, :]]
    return windows.reshape(batch, height, width, kernel_size**2, channels)


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def conv2d(x, kernel, bias, strides, padding, dilation, activation):
    if kernel.shape[:2] == (1, 1) and strides == (1, 1):
        # one GEMM over the pixels: XLA:CPU's 1x1 convolution measured 1.4-13x slower
        x = jnp.pad(x, ((0, 0), (padding[0],) * 2, (padding[1],) * 2, (0, 0)))
        out = jnp.tensordot(x, kernel[0, 0], axes=1)
    else:
        out = jax.lax.conv_general_dilated(
            x, kernel, window_strides=strides, padding=[(p, p) for p in padding],
            rhs_dilation=dilation, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
    return reference.activate(out if bias is None else out + bias, activation)


# the separable 2-tap gathers: `jax.image.resize` (the portable path)
# multiplies by a dense (out, in) interpolation matrix per axis
resize_bilinear = jax.jit(reference.resize_bilinear_taps, static_argnums=(1, 2))


max_pool2d = functools.partial(reference.max_pool2d, fill="-inf")  # XLA fuses the padding into the pooling
fold_batch_norm = reference.fold_batch_norm  # traced into the compiled function
affine_channels = reference.affine_channels  # XLA fuses it


# the softmax without the concatenation; exporters trace the SOFTMAX op
criss_cross_softmax = reference.criss_cross_exponentials


def map_row_blocks(block, height, rows):
    """The full blocks in one `lax.fori_loop` writing into one buffer, then the last one.

    Unrolled, XLA runs the blocks side by side and keeps all their
    temporaries alive at once; a loop runs them one after another.
    """
    full = height // rows
    if full < 2:
        return reference.map_row_blocks(block, height, rows)
    spec = jax.eval_shape(lambda: block(0, rows))
    out = jnp.zeros((spec.shape[0], height, *spec.shape[2:]), spec.dtype)

    def step(i, out):
        start = i * rows
        return jax.lax.dynamic_update_slice_in_dim(out, block(start, rows), start, axis=1)

    out = jax.lax.fori_loop(0, full, step, out)
    if height > full * rows:
        out = jax.lax.dynamic_update_slice_in_dim(out, block(full * rows, height - full * rows), full * rows, axis=1)
    return out


def host_array(x):
    """A read-only numpy view of the buffer on a CPU (one transfer from a GPU); bfloat16 as Keras converts it."""
    if x.dtype == jnp.bfloat16:
        return reference.host_array(x)
    return np.asarray(x)


def facts():
    """(version, intra-op threads or None, device names, platform) of this backend."""
    devices = jax.devices()
    return jax.__version__, None, [d.device_kind for d in devices], devices[0].platform
