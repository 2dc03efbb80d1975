"""The criss-cross softmax of CCNet and GAI: one softmax over a column and a row."""

import keras

from keras_segup.ops import reference
from keras_segup.ops.dispatch import backend_ops


def _same(a, b):
    """Whether two shapes agree wherever both are known."""
    return all(x is None or y is None or x == y for x, y in zip(a, b))


def criss_cross_softmax(energy_col, energy_row):
    """Attention weights of one softmax over each pixel's column (itself left out) and row.

    For a query at (h, w), `energy_col[..., h, w, g]` scores key (g, w) and
    `energy_row[..., h, w, g]` key (h, g), as in CCNet:

        softmax([E_col (own pixel g == h left out), E_row]) == [col, row] * scale

    Backends compute it without concatenating the energies (a shared
    maximum and sum) and return the weights unnormalised with their
    normaliser `scale`, for the caller to apply to the (usually fewer)
    output channels. The portable version (exporters) is one softmax over
    the concatenation, in which both copies of the own pixel are lowered by
    log 2 (together they weigh as one entry, on the same value vector): it
    traces to TFLite's SOFTMAX op alone, which integer TFLite runs
    accurately, and returns normalised weights with `scale` None. A
    hand-written exp-and-divide fails in int8, whose DIV refuses divisors
    that are stored as 0, as does a -inf mask, which int8 cannot hold.

    Args:
        energy_col: float tensor (B, H, W, H).
        energy_row: float tensor (B, H, W, W), same dtype.

    Returns:
        `(col, row, scale)`: (B, H, W, H), (B, H, W, W) and (B, H, W, 1)
        or None (`col` and `row` are normalised).

    Example:
    >>> col, row, scale = criss_cross_softmax(keras.ops.zeros((1, 3, 4, 3)), keras.ops.zeros((1, 3, 4, 4)))
    >>> round(float(keras.ops.sum(col[0, 0, 0] * scale[0, 0, 0]) + keras.ops.sum(row[0, 0, 0] * scale[0, 0, 0])), 6)
    1.0
    """
    col_shape, row_shape = tuple(energy_col.shape), tuple(energy_row.shape)
    if len(col_shape) != 4 or len(row_shape) != 4 or not (
        _same(col_shape[:3], row_shape[:3]) and _same(col_shape[3:], col_shape[1:2])
        and _same(row_shape[3:], row_shape[2:3])
    ):
        raise ValueError(
            "criss_cross_softmax takes column energies (B, H, W, H) and row energies (B, H, W, W); "
            f"got {col_shape} and {row_shape}."
        )
    if isinstance(energy_col, keras.KerasTensor) or isinstance(energy_row, keras.KerasTensor):
        return reference.criss_cross_softmax(energy_col, energy_row)
    tensors = keras.ops.convert_to_tensor(energy_col), keras.ops.convert_to_tensor(energy_row)
    return backend_ops().criss_cross_softmax(*tensors)
