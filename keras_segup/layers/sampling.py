"""`keras_segup.ops.nearest_cell` for layers whose sizes may be unknown when traced."""

from keras_segup import ops as segup_ops
from keras_segup.ops import reference


def static_size(size):
    """`(height, width)` as Python ints, or None while they are graph tensors."""
    try:
        return int(size[0]), int(size[1])
    except TypeError:
        return None


def nearest_cell_features(x, size):
    """The features of `nearest_cell(x, size)`, for static or traced sizes.

    Static sizes take the specialised `keras_segup.ops.nearest_cell`;
    sizes only known at run time (a TensorFlow graph with None height or
    width) take the portable implementation, which accepts tensors.
    """
    static = static_size(size)
    if static is None:
        return reference.nearest_cell(x, size)[0]
    return segup_ops.nearest_cell(x, static)[0]
