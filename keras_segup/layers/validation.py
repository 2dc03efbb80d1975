"""Input checks shared by the layers and segmenters: clear errors before any computation."""

import numpy as np


def check_images(images):
    """A batch of images as float32 numpy (B, H, W, 3), refusing NaN and infinite pixels.

    One NaN or infinite pixel spreads through every convolution and
    normalisation into the whole class map; it is refused here instead.

    Args:
        images: array-like (B, H, W, 3), values 0..255.

    Returns:
        float32 numpy array.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"Images must be (batch, height, width, 3); got shape {images.shape}.")
    bad = ~np.isfinite(images)
    if bad.any():
        first = int(np.argmax(bad.reshape(len(images), -1).any(axis=1)))
        raise ValueError(
            f"{int(bad.sum())} pixel values are NaN or infinite, first in image {first}; "
            "images must be finite numbers in 0..255 (check the decoding and any preprocessing)."
        )
    return images


def check_inputs(layer, input_shape, count, same_size=False):
    """Checks that a layer got `count` rank-4 (B, H, W, C) inputs.

    Args:
        layer: the layer (for the message).
        input_shape: a list of shapes.
        count: how many inputs the layer takes.
        same_size: whether all inputs must share height and width.

    Returns:
        The shapes as a list of tuples.
    """
    name = type(layer).__name__
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != count
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ValueError(
            f"{name} takes a list of {count} tensors (batch, height, width, "
            f"channels); got input shape {input_shape}."
        )
    shapes = [check_feature_map(layer, s) for s in input_shape]
    if same_size:
        sizes = {s[1:3] for s in shapes if None not in s[1:3]}
        if len(sizes) > 1:
            raise ValueError(
                f"{name} inputs must have the same height and width; got "
                f"shapes {shapes}."
            )
    return shapes


def check_feature_map(layer, input_shape):
    """Checks that a layer got one (B, H, W, C) tensor with a known channel count.

    Returns:
        The shape as a tuple.
    """
    name = type(layer).__name__
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"{name} input must have rank 4 (batch, height, width, channels); "
            f"got shape {shape}."
        )
    if shape[-1] is None:
        raise ValueError(f"{name} needs a known channel count; got shape {shape}.")
    return shape


def check_num_classes(owner, num_classes):
    """Checks that `num_classes` is an int >= 1; `owner` names the class in the message."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{owner}: `num_classes` must be an int >= 1; got {num_classes!r}.")
    return num_classes


def check_size(argument, size):
    """`size` as a `(height, width)` tuple; a `ValueError` naming `argument` unless two positive integers.

    Traced (symbolic) sizes pass through unchecked.

    Args:
        argument: the argument's name, for the message.
        size: `(height, width)`.

    Returns:
        The size as a tuple.
    """
    values = tuple(size) if isinstance(size, (tuple, list, np.ndarray)) else None
    numeric = values is not None and all(isinstance(v, (int, float, np.number)) for v in values)
    if values is None or len(values) != 2 or (numeric and any(v != int(v) or v < 1 for v in values)):
        raise ValueError(f"`{argument}` must be two positive whole numbers (height, width); got {size!r}.")
    return tuple(int(v) for v in values) if numeric else values
