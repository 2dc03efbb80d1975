"""JAX implementations of the gathers: one fused XLA computation per call."""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _unnormalize(coord, size, align_corners):
    if align_corners:
        return (coord + 1.0) * 0.5 * (size - 1)
    return ((coord + 1.0) * size - 1.0) * 0.5


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def grid_sample(x, grid, mode, padding_mode, align_corners):
    _, height, width, _ = x.shape
    grid = grid.astype(jnp.float32)
    gx = _unnormalize(grid[..., 0], width, align_corners)
    gy = _unnormalize(grid[..., 1], height, align_corners)
    if padding_mode == "border":
        gx = jnp.clip(gx, 0.0, width - 1.0)
        gy = jnp.clip(gy, 0.0, height - 1.0)
    if mode == "nearest":
        iy = jnp.round(gy).astype(jnp.int32)[..., None]
        ix = jnp.round(gx).astype(jnp.int32)[..., None]
        weights = jnp.ones(iy.shape, jnp.float32)
    else:
        x0, y0 = jnp.floor(gx), jnp.floor(gy)
        wx1, wy1 = gx - x0, gy - y0
        x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
        # the four taps on a trailing axis: one gather for all of them
        iy = jnp.stack([y0, y0, y0 + 1, y0 + 1], axis=-1)
        ix = jnp.stack([x0, x0 + 1, x0, x0 + 1], axis=-1)
        weights = jnp.stack(
            [(1 - wy1) * (1 - wx1), (1 - wy1) * wx1, wy1 * (1 - wx1), wy1 * wx1],
            axis=-1,
        )
    inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
    weights = jnp.where(inside, weights, 0.0).astype(x.dtype)
    iy, ix = jnp.clip(iy, 0, height - 1), jnp.clip(ix, 0, width - 1)
    taps = jax.vmap(lambda image, y, x_: image[y, x_])(x, iy, ix)
    return jnp.einsum("bhwtc,bhwt->bhwc", taps, weights)


def _axis(in_size, out_size):
    numerator = (2 * np.arange(out_size) + 1) * in_size
    index = numerator // (2 * out_size)
    offset = (numerator - (2 * index + 1) * out_size) / out_size
    return index.astype(np.int32), offset.astype(np.float32)


def nearest_cell(x, size):
    iy, rel_y = _axis(x.shape[1], size[0])
    ix, rel_x = _axis(x.shape[2], size[1])
    offsets = np.stack(np.meshgrid(rel_y, rel_x, indexing="ij"), axis=-1)
    return _take_rows_cols(x, iy, ix), jnp.asarray(offsets, x.dtype)


@jax.jit
def _take_rows_cols(x, iy, ix):
    return x[:, iy][:, :, ix]


@functools.partial(jax.jit, static_argnums=(1, 2))
def extract_windows(x, kernel_size, dilation):
    _, height, width, _ = x.shape
    pad = dilation * (kernel_size // 2)
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = [
        padded[:, dy * dilation : dy * dilation + height, dx * dilation : dx * dilation + width]
        for dy in range(kernel_size)
        for dx in range(kernel_size)
    ]
    return jnp.stack(windows, axis=3)
