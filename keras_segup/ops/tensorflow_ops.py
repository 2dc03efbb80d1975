"""TensorFlow implementations of the gathers.

Shapes may be dynamic (None height or width inside a `tf.function`), so
sizes are read with `tf.shape`.
"""

import tensorflow as tf

from keras_segup.ops import reference


def _unnormalize(coord, size, align_corners):
    size = tf.cast(size, tf.float32)
    if align_corners:
        return (coord + 1.0) * 0.5 * (size - 1.0)
    return ((coord + 1.0) * size - 1.0) * 0.5


def grid_sample(x, grid, mode, padding_mode, align_corners):
    shape = tf.shape(x)
    height, width = shape[1], shape[2]
    grid = tf.cast(grid, tf.float32)
    gx = _unnormalize(grid[..., 0], width, align_corners)
    gy = _unnormalize(grid[..., 1], height, align_corners)
    if padding_mode == "border":
        gx = tf.clip_by_value(gx, 0.0, tf.cast(width - 1, tf.float32))
        gy = tf.clip_by_value(gy, 0.0, tf.cast(height - 1, tf.float32))
    if mode == "nearest":
        iy = tf.cast(tf.round(gy), tf.int32)[..., None]
        ix = tf.cast(tf.round(gx), tf.int32)[..., None]
        weights = tf.ones_like(gx)[..., None]
    else:
        x0, y0 = tf.floor(gx), tf.floor(gy)
        wx1, wy1 = gx - x0, gy - y0
        x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
        # the four taps on a trailing axis: one gather for all of them
        iy = tf.stack([y0, y0, y0 + 1, y0 + 1], axis=-1)
        ix = tf.stack([x0, x0 + 1, x0, x0 + 1], axis=-1)
        weights = tf.stack(
            [(1 - wy1) * (1 - wx1), (1 - wy1) * wx1, wy1 * (1 - wx1), wy1 * wx1],
            axis=-1,
        )
    inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
    weights = tf.cast(tf.where(inside, weights, 0.0), x.dtype)
    index = tf.clip_by_value(iy, 0, height - 1) * width + tf.clip_by_value(
        ix, 0, width - 1
    )
    flat = tf.reshape(x, [shape[0], height * width, shape[3]])
    taps = tf.gather(flat, index, batch_dims=1)
    return tf.einsum("bhwtc,bhwt->bhwc", taps, weights)


def nearest_cell(x, size):
    # Two 1-D gathers (rows, then columns) are already TensorFlow's best path.
    return reference.nearest_cell(x, size)


def extract_windows(x, kernel_size, dilation):
    pad = dilation * (kernel_size // 2)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    patches = tf.image.extract_patches(
        padded,
        sizes=[1, kernel_size, kernel_size, 1],
        strides=[1, 1, 1, 1],
        rates=[1, dilation, dilation, 1],
        padding="VALID",
    )
    shape = tf.shape(x)
    return tf.reshape(
        patches, [shape[0], shape[1], shape[2], kernel_size**2, shape[3]]
    )
