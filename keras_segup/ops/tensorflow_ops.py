"""TensorFlow implementations of the ops.

`grid_sample` and `nearest_cell` are `tf.function(jit_compile=True)`, so the
gathers fuse with the arithmetic around them. Shapes may be dynamic (None height or width inside
a traced model): sizes are read with `tf.shape`, and XLA compiles once per
concrete shape.
"""

import functools

import numpy as np
import tensorflow as tf

from keras_segup.ops import reference


def _unnormalize(coord, size, align_corners):
    size = tf.cast(size, tf.float32)
    if align_corners:
        return (coord + 1.0) * 0.5 * (size - 1.0)
    return ((coord + 1.0) * size - 1.0) * 0.5


@tf.function(jit_compile=True, reduce_retracing=True)
def _grid_sample(x, grid, mode, padding_mode, align_corners):
    shape = tf.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    grid = tf.cast(grid, tf.float32)
    gx = _unnormalize(grid[..., 0], width, align_corners)
    gy = _unnormalize(grid[..., 1], height, align_corners)
    if padding_mode == "border":
        gx = tf.clip_by_value(gx, 0.0, tf.cast(width - 1, tf.float32))
        gy = tf.clip_by_value(gy, 0.0, tf.cast(height - 1, tf.float32))
    # one extra zero row: taps outside the image read it, no masking needed
    flat = tf.concat(
        [tf.reshape(x, [-1, channels]), tf.zeros([1, channels], x.dtype)], 0
    )
    base = tf.range(batch)[:, None, None] * height * width
    outside = batch * height * width

    def read(iy, ix):
        inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
        return tf.gather(flat, tf.where(inside, base + iy * width + ix, outside))

    if mode == "nearest":
        return read(tf.cast(tf.round(gy), tf.int32), tf.cast(tf.round(gx), tf.int32))
    x0, y0 = tf.floor(gx), tf.floor(gy)
    wx1, wy1 = (gx - x0)[..., None], (gy - y0)[..., None]
    wx0, wy0 = 1.0 - wx1, 1.0 - wy1
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)

    def weight(w):
        return tf.cast(w, x.dtype)

    return (
        read(y0, x0) * weight(wy0 * wx0)
        + read(y0, x0 + 1) * weight(wy0 * wx1)
        + read(y0 + 1, x0) * weight(wy1 * wx0)
        + read(y0 + 1, x0 + 1) * weight(wy1 * wx1)
    )


def grid_sample(x, grid, mode, padding_mode, align_corners):
    return _grid_sample(x, grid, mode, padding_mode, align_corners)


@tf.function(jit_compile=True, reduce_retracing=True)
def _nearest_cell_features(x, iy, ix):
    return tf.gather(tf.gather(x, iy, axis=1), ix, axis=2)


@tf.function(jit_compile=True, reduce_retracing=True)
def _repeat_cells(x, size):
    return reference.repeat_cells(x, size)


def nearest_cell(x, size):
    height, width = x.shape[1], x.shape[2]
    shape = tf.shape(x)
    if height and width and size[0] % height == 0 and size[1] % width == 0:
        _, _, offsets = reference.nearest_cell_offsets(height, width, size, x.dtype)
        return _repeat_cells(x, size), offsets
    iy, ix, offsets = reference.nearest_cell_offsets(shape[1], shape[2], size, x.dtype)
    return _nearest_cell_features(x, iy, ix), offsets


def extract_windows(x, kernel_size, dilation):
    # Measured (tools/benchmark_ops.py): the portable padded slices + stack
    # beat both tf.image.extract_patches and an XLA-compiled version on CPU.
    return reference.extract_windows(x, kernel_size, dilation)


def conv2d(x, kernel, bias, strides, padding, dilation, activation):
    # Keras's TensorFlow convolution is channels-last already (the portable
    # path); a 1x1 one is a little faster as one GEMM over the pixels
    if kernel.shape[:2] != (1, 1) or tuple(strides) != (1, 1):
        return reference.conv2d(x, kernel, bias, strides, padding, dilation, activation)
    (ph, pw) = padding
    if ph or pw:
        x = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
    out = tf.tensordot(x, kernel[0, 0], 1)
    return reference.activate(out if bias is None else out + bias, activation)


def resize_bilinear(x, size, align_corners):
    if align_corners:  # TensorFlow 1's corner-aligned kernel is PyTorch's
        out = tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=True, half_pixel_centers=False)
    else:
        out = tf.image.resize(x, size, method="bilinear", antialias=False)
    return tf.cast(out, x.dtype)  # both compute in float32


max_pool2d = functools.partial(reference.max_pool2d, fill="-inf")  # Keras's max-pool is channels-last already
fold_batch_norm = reference.fold_batch_norm  # traced into the compiled function
affine_channels = reference.affine_channels


# the softmax without the concatenation; exporters trace the SOFTMAX op
criss_cross_softmax = reference.criss_cross_exponentials
map_row_blocks = reference.map_row_blocks


def host_array(x):
    """A read-only numpy view of a CPU tensor's buffer; others (GPU, ragged, sparse, bfloat16) as Keras converts them."""
    if not isinstance(x, tf.Tensor) or "CPU" not in x.device or x.dtype == tf.bfloat16:
        return reference.host_array(x)
    return np.from_dlpack(x)


def facts():
    """(version, intra-op threads or None, device names, platform) of this backend."""
    gpus = tf.config.list_physical_devices("GPU")
    threads = tf.config.threading.get_intra_op_parallelism_threads() or None
    return tf.__version__, threads, [g.name for g in gpus] or ["cpu"], "gpu" if gpus else "cpu"
