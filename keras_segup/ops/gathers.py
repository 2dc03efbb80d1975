"""The gathers of the decoders: `grid_sample`, `nearest_cell`, `extract_windows`.

Each public function validates its arguments, returns symbolic tensors for
`keras.KerasTensor` inputs (with `None` batch), and otherwise runs the
active backend's implementation (`dispatch.backend_ops`).
"""

import keras

from keras_segup.ops import reference
from keras_segup.ops.dispatch import backend_ops
from keras_segup.ops.validation import check_extract_windows_args
from keras_segup.ops.validation import check_grid_sample_args
from keras_segup.ops.validation import check_nearest_cell_args
from keras_segup.ops.validation import static_size


def _is_symbolic(*tensors):
    return any(isinstance(t, keras.KerasTensor) for t in tensors)


class GridSample(keras.Operation):
    def __init__(self, mode, padding_mode, align_corners, name=None):
        super().__init__(name=name)
        self.mode = mode
        self.padding_mode = padding_mode
        self.align_corners = align_corners

    def call(self, x, grid):
        return backend_ops().grid_sample(
            x, grid, self.mode, self.padding_mode, self.align_corners
        )

    def compute_output_spec(self, x, grid):
        shape = (x.shape[0], grid.shape[1], grid.shape[2], x.shape[3])
        return keras.KerasTensor(shape, dtype=x.dtype)


class NearestCell(keras.Operation):
    def __init__(self, size, name=None):
        super().__init__(name=name)
        self.size = size

    def call(self, x):
        return backend_ops().nearest_cell(x, self.size)

    def compute_output_spec(self, x):
        height, width = self.size
        features = keras.KerasTensor(
            (x.shape[0], height, width, x.shape[3]), dtype=x.dtype
        )
        offsets = keras.KerasTensor((height, width, 2), dtype=x.dtype)
        return features, offsets


class ExtractWindows(keras.Operation):
    def __init__(self, kernel_size, dilation, name=None):
        super().__init__(name=name)
        self.kernel_size = kernel_size
        self.dilation = dilation

    def call(self, x):
        return backend_ops().extract_windows(
            x, self.kernel_size, self.dilation
        )

    def compute_output_spec(self, x):
        shape = (
            x.shape[0],
            x.shape[1],
            x.shape[2],
            self.kernel_size**2,
            x.shape[3],
        )
        return keras.KerasTensor(shape, dtype=x.dtype)


def grid_sample(
    x, grid, mode="bilinear", padding_mode="zeros", align_corners=False
):
    """Samples `x` at the normalised positions of `grid`.

    Exactly the semantics of `torch.nn.functional.grid_sample` for 4-D
    inputs, but channels-last: `grid[..., 0]` is x (width) and
    `grid[..., 1]` is y (height), both in [-1, 1]. With
    `align_corners=False`, -1 and 1 are the outer edges of the corner
    pixels; with `align_corners=True`, their centres. Nearest mode rounds
    half to even, as PyTorch does.

    Args:
        x: float tensor (B, H, W, C).
        grid: float tensor (B, Ho, Wo, 2), last axis (x, y).
        mode: `"bilinear"` or `"nearest"`.
        padding_mode: `"zeros"` (samples outside read 0) or `"border"`
            (positions are clamped to the image).
        align_corners: see above.

    Returns:
        Tensor (B, Ho, Wo, C) of the dtype of `x`.

    Example:
    >>> x = keras.random.normal((1, 8, 8, 16))
    >>> grid = keras.random.uniform((1, 32, 32, 2), -1.0, 1.0)
    >>> grid_sample(x, grid).shape
    (1, 32, 32, 16)
    """
    check_grid_sample_args(x, grid, mode, padding_mode, align_corners)
    if _is_symbolic(x, grid):
        return GridSample(mode, padding_mode, align_corners).symbolic_call(
            x, grid
        )
    x = keras.ops.convert_to_tensor(x)
    grid = keras.ops.cast(grid, x.dtype)
    return backend_ops().grid_sample(x, grid, mode, padding_mode, align_corners)


def nearest_cell(x, size):
    """For each cell centre of a (Ho, Wo) target grid, its nearest source cell.

    IFA's query step. Target cell (i, j) reads source cell
    `iy = floor((2i + 1) * H / (2 Ho))`, `ix = floor((2j + 1) * W / (2 Wo))`
    (the nearest cell of the target centre, half-way ties going to the
    higher cell), and its offset from that cell's centre in source-cell
    units is `rel_y = (2i + 1) * H / Ho - (2 iy + 1)` and likewise for x,
    each in [-1, 1]. When Ho/H and Wo/W are integers the features are a
    broadcast repeat without any gather.

    Args:
        x: tensor (B, H, W, C).
        size: `(Ho, Wo)`: positive Python ints, or scalar tensors while a
            TensorFlow graph with unknown sizes is traced (the portable
            implementation runs then).

    Returns:
        `(features, offsets)`: features (B, Ho, Wo, C) of the dtype of `x`,
        offsets (Ho, Wo, 2) in order (y, x), the same for every batch item.

    Example:
    >>> features, offsets = nearest_cell(keras.ops.ones((2, 4, 6, 8)), (16, 24))
    >>> features.shape, offsets.shape
    ((2, 16, 24, 8), (16, 24, 2))
    """
    if static_size(size) is None:
        return reference.nearest_cell(x, size)
    size = check_nearest_cell_args(x, size)
    if _is_symbolic(x):
        return NearestCell(size).symbolic_call(x)
    return backend_ops().nearest_cell(keras.ops.convert_to_tensor(x), size)


def nearest_cell_axis(in_size, out_size):
    """`nearest_cell`'s source index and offset along one axis.

    Args:
        in_size: source cells along the axis (int or scalar tensor).
        out_size: target cells along the axis (int or scalar tensor).

    Returns:
        `(index, offset)`: int32 (out_size,) source indices and float32
        (out_size,) offsets of the target centres, in source cells.

    Example:
    >>> index, offset = nearest_cell_axis(4, 16)
    >>> index.shape, offset.shape
    ((16,), (16,))
    """
    return reference.nearest_cell_axis(in_size, out_size)


def extract_windows(x, kernel_size, dilation=1):
    """The zero-padded `k x k` neighbourhood of every position.

    Window element `n = dy * k + dx` of position (i, j) is
    `x[:, i + (dy - k // 2) * dilation, j + (dx - k // 2) * dilation, :]`,
    or 0 outside the map; the same order as `torch.nn.functional.unfold`.

    Args:
        x: tensor (B, H, W, C).
        kernel_size: odd int >= 1.
        dilation: int >= 1, spacing between window elements.

    Returns:
        Tensor (B, H, W, k * k, C).

    Example:
    >>> extract_windows(keras.ops.ones((1, 5, 7, 4)), 3).shape
    (1, 5, 7, 9, 4)
    """
    check_extract_windows_args(x, kernel_size, dilation)
    if _is_symbolic(x):
        return ExtractWindows(kernel_size, dilation).symbolic_call(x)
    x = keras.ops.convert_to_tensor(x)
    return backend_ops().extract_windows(x, kernel_size, dilation)
