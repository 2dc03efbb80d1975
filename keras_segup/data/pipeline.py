"""The tf.data pipeline every dataset function shares."""

import tensorflow as tf

from keras_segup.data.files import DataError
from keras_segup.data.transforms import augment

AUTOTUNE = tf.data.AUTOTUNE


def file_source(pairs, decode_label):
    """`(keys, load)` for `make_dataset` reading image/label files.

    Args:
        pairs: `(image_path, label_path)` tuples.
        decode_label: `decode(raw_bytes, path) -> int32 (H, W)` training ids
            (see `keras_segup.data.labels`).
    """

    def load(image_path, label_path):
        image = tf.io.decode_image(
            tf.io.read_file(image_path), channels=3, expand_animations=False
        )
        return image, decode_label(tf.io.read_file(label_path), label_path)

    images, labels = (list(column) for column in zip(*pairs))
    return (images, labels), load


def make_dataset(
    keys,
    load,
    training,
    batch_size=None,
    crop_size=(1024, 1024),
    scale_range=(0.5, 2.0),
    flip=True,
    jitter=True,
    blur=False,
    seed=None,
    cache=False,
):
    """(image, label) batches from file pairs.

    Training pipelines shuffle (reshuffled every epoch), augment with
    `keras_segup.data.transforms.augment` and drop the last incomplete
    batch; evaluation pipelines keep the order and the full images. With a
    `seed` the whole stream is the same on every run (shuffling and every
    augmentation use seeded, stateless random ops).

    Args:
        keys: what identifies each sample (e.g. file paths), a structure
            `tf.data.Dataset.from_tensor_slices` takes.
        load: `load(*key) -> (image uint8 (H, W, 3), label int32 (H, W))`.
        training: augment and shuffle.
        batch_size: batch size; default 8 in training, 1 in evaluation
            (full images of different sizes cannot share a batch).
        crop_size: `(height, width)` of training crops.
        scale_range: random resize range in training; None for none.
        flip: random horizontal flips in training.
        jitter: photometric jitter in training.
        blur: random Gaussian blur in training.
        seed: integer seed for a reproducible stream.
        cache: cache decoded images (uint8) in memory (`True`) or in files
            with this path prefix (a string).

    Returns:
        A `tf.data.Dataset` of `(images float32 (B, H, W, 3) in 0..255,
        labels int32 (B, H, W))`.
    """
    batch_size = batch_size or (8 if training else 1)
    dataset = tf.data.Dataset.from_tensor_slices(keys)
    count = int(dataset.cardinality())
    if training and count < batch_size:
        raise DataError(
            f"The training split has {count} images, fewer than one batch of "
            f"{batch_size}; lower batch_size."
        )
    if training and not cache:  # shuffle the keys: cheap, and nothing decoded waits
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE)
    if cache:
        dataset = dataset.cache(cache if isinstance(cache, str) else "")
        if training:
            dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda image, label: (tf.cast(image, tf.float32), label))
    if training:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda pair, sample_seed: augment(
                *pair, sample_seed, crop_size, scale_range=scale_range, flip=flip, jitter=jitter, blur=blur
            ),
            num_parallel_calls=AUTOTUNE,
        )
    dataset = dataset.batch(batch_size, drop_remainder=training)
    return dataset.prefetch(AUTOTUNE)
