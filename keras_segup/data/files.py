"""Finding image/label pairs on disk and checking them before any training starts.

Every check here reads file headers and tails only (a few bytes per file),
so a whole dataset is verified in seconds, and every error names the file.
"""

import re
from pathlib import Path

import tensorflow as tf
from PIL import Image
from tqdm import tqdm

# a complete PNG ends with its IEND chunk; a complete JPEG with the EOI marker
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"


class DataError(ValueError):
    """A dataset that cannot be read as asked; the message names the file and the fix."""


def require_dir(path, what):
    """`path` as a `Path`, or a `DataError` saying what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"The {what} folder {path} does not exist; check the dataset root.")
    return path


def probe(path):
    """(width, height) of an image file; `DataError` if missing, corrupt or truncated.

    Args:
        path: a PNG or JPEG file.

    Returns:
        `(width, height)`.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            size, kind = image.size, image.format
        with open(path, "rb") as handle:
            handle.seek(max(path.stat().st_size - 32, 0))
            tail = handle.read()
    except FileNotFoundError:
        raise DataError(f"The file {path} is missing.") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataError(f"The file {path} is not a readable image ({error}).") from None
    ending = {"PNG": _PNG_END, "JPEG": _JPEG_END}.get(kind)
    if ending is None:
        raise DataError(f"The file {path} is a {kind} image; use PNG or JPEG.")
    if ending not in tail:
        raise DataError(f"The file {path} is truncated or corrupt (no end marker); re-extract it.")
    return size


def pair_by_stem(image_files, label_dir, image_suffix, label_suffix):
    """Pairs each image with `label_dir / (stem + label_suffix)`.

    Args:
        image_files: image paths, each ending with `image_suffix`.
        label_dir: folder of the labels (may mirror subfolders via the
            image's relative path, see `cityscapes`).
        image_suffix: the part of the image name replaced by `label_suffix`.
        label_suffix: ending of the label file names.

    Returns:
        Sorted list of `(image_path, label_path)` strings.
    """
    pairs = []
    for image in sorted(image_files):
        stem = image.name[: -len(image_suffix)]
        label = Path(label_dir) / f"{stem}{label_suffix}"
        if not label.is_file():
            raise DataError(
                f"The image {image} has no label: {label} is missing. Add it, or remove the image."
            )
        pairs.append((str(image), str(label)))
    return pairs


def check_pairs(pairs, description):
    """Checks that there are pairs and that each image and label agree in size.

    Args:
        pairs: `(image_path, label_path)` tuples.
        description: what was searched, for the error message.

    Returns:
        The pairs.
    """
    if not pairs:
        raise DataError(f"No image/label pairs found: {description}.")
    for image, label in pairs:
        image_size, label_size = probe(image), probe(label)
        if image_size != label_size:
            raise DataError(
                f"The image {image} is {image_size[0]}x{image_size[1]} but its label {label} is "
                f"{label_size[0]}x{label_size[1]} (width x height); they must match."
            )
    return pairs


# the files of the pipelines built in this process, searched for the culprit of a decode error
_PIPELINE_FILES = {}


def register_files(paths):
    """Remembers the files a pipeline reads, so `named_data_errors` can name one that fails to decode."""
    _PIPELINE_FILES.update(dict.fromkeys(str(path) for path in paths))


def _undecodable(reason):
    """The first remembered file TensorFlow cannot decode, and its reason; `(None, reason)` if none."""
    for path in tqdm(list(_PIPELINE_FILES), desc="finding the file that failed to decode", unit="file",
                     leave=False):
        try:
            tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            return path, error.message.strip().splitlines()[0][:300]
    return None, reason


_OUT_OF_RANGE = re.compile(r"label value out of range \((.*?)\) in file\] \[(.*?)\] \[value\] \[\[?(-?\d+)")


def as_data_error(error):
    """The `DataError` naming the file for a `tf.data` `InvalidArgumentError`, or None for other errors.

    A label value the dataset does not define stops the pipeline with
    TensorFlow's `InvalidArgumentError`, which buries the file name in a
    long message; it becomes one sentence with the file and the value. A
    file that passed the header checks but fails to decode (damaged in the
    middle) is found among the pipelines' files and named with TensorFlow's
    reason. `keras_segup.utils.data_errors.named_data_errors` applies this
    where a pipeline is consumed.
    """
    if not isinstance(error, tf.errors.InvalidArgumentError):
        return None
    found = _OUT_OF_RANGE.search(error.message)
    if found:
        description, path, value = found.groups()
        return DataError(
            f"The label file {path} holds the value {value}, which is out of range ({description}); "
            "fix the file, or choose the dataset encoding it uses."
        )
    if any(word in error.message.lower() for word in ("decode", "png", "jpeg")):
        path, reason = _undecodable(error.message.strip().splitlines()[0][:300])
        return DataError(
            f"{f'The file {path}' if path else 'A dataset file'} could not be decoded ({reason}); it is "
            "corrupt: re-extract it, or remove it with its image or label."
        )
    return None
