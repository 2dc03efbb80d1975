"""Argument checks shared by every implementation of the gathers.

Each check raises a `ValueError` naming the argument, what it got and what
is accepted, before any backend code runs.
"""

import operator

import numpy as np

GRID_SAMPLE_MODES = ("bilinear", "nearest")
GRID_SAMPLE_PADDING_MODES = ("zeros", "border")


def _shape(tensor):
    shape = getattr(tensor, "shape", None)
    if shape is None:
        shape = np.shape(tensor)
    return tuple(shape)


def _check_rank(name, tensor, rank, layout):
    shape = _shape(tensor)
    if len(shape) != rank:
        raise ValueError(
            f"`{name}` must have rank {rank} with layout {layout}; "
            f"got shape {shape}."
        )
    return shape


def _check_positive_int(name, value, odd=False):
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"`{name}` must be an int; got {value!r}.")
    value = operator.index(value)
    if value < 1 or (odd and value % 2 == 0):
        accepted = "an odd int >= 1 (1, 3, 5, ...)" if odd else "an int >= 1"
        raise ValueError(f"`{name}` must be {accepted}; got {value}.")


def check_grid_sample_args(x, grid, mode, padding_mode, align_corners):
    _check_rank("x", x, 4, "(batch, height, width, channels)")
    grid_shape = _check_rank("grid", grid, 4, "(batch, out_height, out_width, 2)")
    if grid_shape[-1] is not None and grid_shape[-1] != 2:
        raise ValueError(
            "The last axis of `grid` must have size 2 (x, y) in [-1, 1]; "
            f"got shape {grid_shape}."
        )
    batch, grid_batch = _shape(x)[0], grid_shape[0]
    if None not in (batch, grid_batch) and batch != grid_batch:
        raise ValueError(
            f"`x` and `grid` must have the same batch size; got {batch} "
            f"and {grid_batch}."
        )
    if mode not in GRID_SAMPLE_MODES:
        raise ValueError(
            f"`mode` must be one of {GRID_SAMPLE_MODES}; got {mode!r}."
        )
    if padding_mode not in GRID_SAMPLE_PADDING_MODES:
        raise ValueError(
            f"`padding_mode` must be one of {GRID_SAMPLE_PADDING_MODES}; "
            f"got {padding_mode!r}."
        )
    if not isinstance(align_corners, bool):
        raise ValueError(
            f"`align_corners` must be True or False; got {align_corners!r}."
        )


def check_nearest_cell_args(x, size):
    _check_rank("x", x, 4, "(batch, height, width, channels)")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(
            f"`size` must be a pair (out_height, out_width); got {size!r}."
        )
    for value in size:
        _check_positive_int("size", value)
    return static_size(size)


def check_extract_windows_args(x, kernel_size, dilation):
    _check_rank("x", x, 4, "(batch, height, width, channels)")
    _check_positive_int("kernel_size", kernel_size, odd=True)
    _check_positive_int("dilation", dilation)


def static_size(size):
    """`(height, width)` as Python ints, or None while they are symbolic tensors.

    Raises:
        ValueError: for anything but a pair of integers or scalar tensors.
    """
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"`size` must be a pair (out_height, out_width); got {size!r}.")
    try:
        return tuple(operator.index(n) for n in size)
    except TypeError:
        if all(_is_graph_scalar(n) or hasattr(n, "__index__") for n in size):
            return None  # a graph being traced: known only at run time
        raise ValueError(f"`size` must be an int pair (out_height, out_width); got {size!r}.") from None


def _is_graph_scalar(n):
    return hasattr(n, "dtype") and not isinstance(n, np.generic)


def check_conv2d_args(x, kernel, bias, strides, padding, dilation):
    x_shape = _check_rank("x", x, 4, "(batch, height, width, channels)")
    kernel_shape = _check_rank("kernel", kernel, 4, "(kh, kw, in_channels, out_channels)")
    if None not in (x_shape[3], kernel_shape[2]) and x_shape[3] != kernel_shape[2]:
        raise ValueError(
            f"`kernel` reads {kernel_shape[2]} input channels but `x` has {x_shape[3]}; "
            f"got shapes {x_shape} and {kernel_shape}."
        )
    if bias is not None and tuple(_shape(bias)) != (kernel_shape[3],):
        raise ValueError(f"`bias` must have shape ({kernel_shape[3]},); got {_shape(bias)}.")
    for name, pair, least in (("strides", strides, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if len(pair) != 2 or any(isinstance(n, bool) or not hasattr(n, "__index__") or n < least for n in pair):
            raise ValueError(f"`{name}` must be an int >= {least} or a pair of them; got {pair!r}.")
