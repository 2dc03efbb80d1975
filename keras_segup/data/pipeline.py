"""The tf.data pipeline every dataset function shares."""

import random

import tensorflow as tf

from keras_segup.data.files import DataError
from keras_segup.data.files import register_files
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
    register_files(images + labels)
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
    start_step=None,
):
    """(image, label) batches from file pairs.

    Training pipelines shuffle, augment with
    `keras_segup.data.transforms.augment` and leave out the last incomplete
    batch of each pass; evaluation pipelines keep the order and the full
    images. A training sample's image and augmentation are a pure function
    of the seed, its pass and its place in the pass (a stateless
    permutation of the keys per pass, stateless random ops per sample), so
    a stream can start at any batch: with `start_step` it is the endless
    stream from that batch on, the same batches an uninterrupted stream
    gives there. This is how `keras_segup.training.train` resumes exactly.

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
        seed: integer seed of the training stream; None: a random one.
        cache: evaluation only: cache decoded images (uint8) in memory
            (`True`) or in files with this path prefix (a string).
        start_step: training only. None: one pass (`len(keys) //
            batch_size` batches) in a new order each time it is iterated,
            for `model.fit(dataset, epochs=...)`. An integer: the endless
            stream of batches from batch `start_step` on (pass `p` is batches
            `p * steps_per_pass` to `(p + 1) * steps_per_pass - 1`); needs a `seed`.

    Returns:
        A `tf.data.Dataset` of `(images float32 (B, H, W, 3) in 0..255,
        labels int32 (B, H, W))`.
    """
    batch_size = batch_size or (8 if training else 1)
    dataset = tf.data.Dataset.from_tensor_slices(keys)
    count = int(dataset.cardinality())
    if not training:
        if start_step is not None:
            raise ValueError("start_step positions a training stream; evaluation pipelines have none.")
        dataset = dataset.map(load, num_parallel_calls=AUTOTUNE)
        if cache:
            dataset = dataset.cache(cache if isinstance(cache, str) else "")
        dataset = dataset.map(lambda image, label: (tf.cast(image, tf.float32), label))
        return dataset.batch(batch_size).prefetch(AUTOTUNE)
    if count < batch_size:
        raise DataError(
            f"The training split has {count} images, fewer than one batch of "
            f"{batch_size}; lower batch_size."
        )
    if cache:
        raise ValueError(
            "cache applies to evaluation pipelines: a training stream reads its samples in a seekable "
            "order, one file at a time; drop cache=, or cache the decoded files on a faster disk."
        )
    if start_step is not None and (seed is None or int(start_step) < 0):
        raise ValueError(f"A training stream from start_step={start_step} needs a seed and start_step >= 0.")
    seed = random.randrange(2**31) if seed is None else int(seed)
    per_pass = count // batch_size * batch_size
    columns = tuple(map(tf.constant, keys)) if isinstance(keys, tuple) else (tf.constant(keys),)

    def sample(pass_, index):
        pass_seed = tf.stack([tf.constant(seed, tf.int64), pass_])
        position = tf.random.experimental.index_shuffle(index, pass_seed, count - 1)
        image, label = load(*(tf.gather(column, position) for column in columns))
        sample_seed = tf.stack([tf.constant(seed, tf.int64), pass_ * per_pass + index])
        return augment(
            tf.cast(image, tf.float32), label, sample_seed, crop_size,
            scale_range=scale_range, flip=flip, jitter=jitter, blur=blur,
        )

    dataset = _training_samples(per_pass, seed, start_step, batch_size).map(sample, num_parallel_calls=AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def _training_samples(per_pass, seed, start_step, batch_size):
    """`(pass, index in the pass)` int64 pairs of the training samples, `per_pass` a pass."""
    if start_step is None:  # one pass, its number new each iteration
        passes = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        samples = passes.flat_map(
            lambda pass_: tf.data.Dataset.range(per_pass).map(lambda index: (pass_ % 2**40, index))
        )
        return samples.apply(tf.data.experimental.assert_cardinality(per_pass))
    samples = tf.data.Dataset.counter(int(start_step) * batch_size)
    return samples.map(lambda sample: (sample // per_pass, sample % per_pass))

