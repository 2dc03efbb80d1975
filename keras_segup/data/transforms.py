"""Training augmentation for (image, label) pairs, deterministic under a seed.

Images are float32 (H, W, 3) in 0..255 and resized bilinearly; labels are
int32 (H, W) and resized with nearest neighbour. Every random choice uses
TensorFlow's stateless ops driven by a per-sample seed pair, so a pipeline
with a fixed seed yields the same batches on every run.
"""

import tensorflow as tf

from keras_segup.data.labels import IGNORE_INDEX


def random_scale(image, label, seed, scale_range):
    """Resizes both by one factor drawn uniformly from `scale_range`."""
    factor = tf.random.stateless_uniform([], seed, *scale_range)
    size = tf.cast(tf.round(tf.cast(tf.shape(label), tf.float32) * factor), tf.int32)
    size = tf.maximum(size, 1)
    image = tf.image.resize(image, size, method="bilinear")
    label = tf.image.resize(label[..., None], size, method="nearest")[..., 0]
    return image, label


def random_crop(image, label, seed, crop_size):
    """A `crop_size` window; smaller inputs are padded (image 0, label 255) first."""
    height, width = crop_size
    shape = tf.shape(label)
    pad_h, pad_w = tf.maximum(height - shape[0], 0), tf.maximum(width - shape[1], 0)
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]])
    label = tf.pad(label, [[0, pad_h], [0, pad_w]], constant_values=IGNORE_INDEX)
    shape = tf.shape(label)
    top = tf.random.stateless_uniform([], seed, 0, shape[0] - height + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform(
        [], seed + [0, 1], 0, shape[1] - width + 1, dtype=tf.int32
    )
    image = image[top : top + height, left : left + width]
    label = label[top : top + height, left : left + width]
    return tf.ensure_shape(image, [height, width, 3]), tf.ensure_shape(label, [height, width])


def random_flip(image, label, seed):
    """Mirrors both left-right with probability 0.5."""
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return (
        tf.cond(flip, lambda: image[:, ::-1], lambda: image),
        tf.cond(flip, lambda: label[:, ::-1], lambda: label),
    )


def photometric_jitter(image, seed):
    """Brightness (+-32), contrast and saturation (x0.5-1.5) and hue (+-18 deg) jitter."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    image = image / 255.0
    image = tf.image.stateless_random_brightness(image, 32 / 255, seeds[0])
    image = tf.image.stateless_random_contrast(image, 0.5, 1.5, seeds[1])
    image = tf.clip_by_value(image, 0.0, 1.0)
    image = tf.image.stateless_random_saturation(image, 0.5, 1.5, seeds[2])
    image = tf.image.stateless_random_hue(image, 0.05, seeds[3])
    return tf.clip_by_value(image, 0.0, 1.0) * 255.0


def random_blur(image, seed, probability=0.5, sigma_range=(0.15, 1.3)):
    """Gaussian blur with a random sigma, with `probability` (simpleseg's and SFNet's `gblur`)."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    sigma = tf.random.stateless_uniform([], seeds[0], *sigma_range)
    radius = int(3 * sigma_range[1] + 0.5)
    taps = tf.exp(-0.5 * (tf.range(-radius, radius + 1, dtype=tf.float32) / sigma) ** 2)
    taps = taps / tf.reduce_sum(taps)
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    rows = tf.tile(taps[:, None, None, None], [1, 1, 3, 1])
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, tf.transpose(rows, [1, 0, 2, 3]), [1, 1, 1, 1], "VALID")[0]
    apply = tf.random.stateless_uniform([], seeds[1]) < probability
    return tf.cond(apply, lambda: tf.ensure_shape(blurred, image.shape), lambda: image)


def augment(image, label, seed, crop_size, scale_range=(0.5, 2.0), flip=True, jitter=True, blur=False):
    """The training transform: random scale, crop (with 255 padding), flip, jitter, blur.

    Args:
        image: float32 (H, W, 3) in 0..255.
        label: int32 (H, W).
        seed: int32/int64 tensor of shape (2,), this sample's seed.
        crop_size: `(height, width)` of the output.
        scale_range: `(low, high)` resize factors; `None` for no scaling.
        flip: random horizontal flip.
        jitter: photometric jitter.
        blur: random Gaussian blur (`random_blur`).

    Returns:
        `(image, label)` of shape `crop_size`.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    if scale_range is not None:
        image, label = random_scale(image, label, seeds[0], scale_range)
    image, label = random_crop(image, label, seeds[1], crop_size)
    if flip:
        image, label = random_flip(image, label, seeds[2])
    if jitter:
        image = photometric_jitter(image, seeds[3])
    if blur:
        image = random_blur(image, seeds[3] + tf.constant([0, 1], tf.int64))
    return image, label
