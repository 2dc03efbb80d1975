"""Label encodings of the datasets and their decoding into training ids.

A decoder turns the bytes of a label PNG into int32 (H, W) training ids
(0..num_classes-1, and 255 for "ignore"). A value the encoding does not
define stops the pipeline with an error that names the file.
"""

import numpy as np
import tensorflow as tf

from keras_segup.datasets_info import IGNORE_INDEX

# cityscapesScripts' labels table: labelId -> trainId (255: not evaluated)
CITYSCAPES_LABEL_TO_TRAIN = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
CITYSCAPES_NUM_LABEL_IDS = 34  # labelIds 0..33 occur in the PNGs
CITYSCAPES_TRAIN_TO_LABEL = np.array(sorted(CITYSCAPES_LABEL_TO_TRAIN), np.uint8)


def _assert_known(ids, stored, path, description):
    """Fails with the file name and the stored value where a pixel had no training id (-1).

    `keras_segup.data.files.as_data_error` turns the failure into a
    `DataError` where the pipeline is consumed.
    """
    valid = tf.reduce_all(ids >= 0)
    message = f"label value out of range ({description}) in file"
    first = tf.boolean_mask(stored, ids < 0)[:1]
    with tf.control_dependencies([tf.debugging.Assert(valid, [message, path, "value", first])]):
        return tf.identity(ids)


def decode_index_png(raw):
    """The stored values of a single-channel PNG at its bit depth, int32 (H, W).

    `tf.io.decode_png` rescales 16-bit files to 8 bits (and 8-bit ones up
    to 16), which turns label ids into other ids; the depth is read from
    the PNG header (IHDR byte 24) instead.
    """
    depth = tf.io.decode_raw(tf.strings.substr(raw, 24, 1), tf.uint8)[0]
    return tf.cond(
        depth == 16,
        lambda: tf.cast(tf.io.decode_png(raw, channels=1, dtype=tf.uint16)[..., 0], tf.int32),
        lambda: tf.cast(tf.io.decode_png(raw, channels=1)[..., 0], tf.int32),
    )


def lookup_decoder(table, description):
    """A decoder of single-channel index PNGs through a lookup table.

    Args:
        table: 256 training ids indexed by the stored value; -1 marks
            values that must not occur.
        description: what the valid values are, for the error message.

    Returns:
        `decode(raw_bytes, path) -> int32 (H, W)`.
    """
    lut = tf.constant(np.asarray(table, np.int32))

    def decode(raw, path):
        stored = decode_index_png(raw)
        ids = tf.where(stored < 256, tf.gather(lut, tf.minimum(stored, 255)), -1)  # 16-bit values past 255
        return _assert_known(ids, stored, path, description)

    return decode


def table_from_mapping(mapping, default=-1):
    """A 256-entry lookup table from `{stored value: training id}`."""
    table = np.full(256, default, np.int32)
    for stored, train_id in mapping.items():
        table[stored] = train_id
    return table


def palette_decoder(palette, void_color=None, description="palette colours"):
    """A decoder of colour-coded labels (RGB or palette-mode PNGs).

    Args:
        palette: the RGB colour of each class, in class order.
        void_color: the colour of ignored pixels (255), if any.
        description: for the error message.

    Returns:
        `decode(raw_bytes, path) -> int32 (H, W)`.
    """
    colors = [tuple(c) for c in palette] + ([tuple(void_color)] if void_color else [])
    ids = list(range(len(palette))) + ([IGNORE_INDEX] if void_color else [])
    keys = tf.constant([(r << 16) | (g << 8) | b for r, g, b in colors], tf.int32)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.constant(ids, tf.int32)), default_value=-1
    )

    def decode(raw, path):
        rgb = tf.cast(tf.io.decode_png(raw, channels=3), tf.int32)
        key = rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2]  # the value shown: 0xRRGGBB
        return _assert_known(table.lookup(key), key, path, description)

    return decode


def cityscapes_decoder():
    """labelIds 0..33 -> the 19 trainIds, everything else 255."""
    table = table_from_mapping(CITYSCAPES_LABEL_TO_TRAIN, default=IGNORE_INDEX)
    table[CITYSCAPES_NUM_LABEL_IDS:] = -1
    return lookup_decoder(table, "Cityscapes labelIds are 0..33")


def ade20k_decoder(num_classes=150):
    """ADE20K: 0 ("other") -> 255, k -> k - 1 for k in 1..150."""
    table = table_from_mapping({k: k - 1 for k in range(1, num_classes + 1)})
    table[0] = IGNORE_INDEX
    return lookup_decoder(table, f"ADE20K labels are 0..{num_classes}")


def index_decoder(num_classes):
    """Index PNGs already in training ids: 0..num_classes-1, 255 ignored."""
    table = table_from_mapping({k: k for k in range(num_classes)})
    table[IGNORE_INDEX] = IGNORE_INDEX
    return lookup_decoder(table, f"labels are 0..{num_classes - 1} or 255")
