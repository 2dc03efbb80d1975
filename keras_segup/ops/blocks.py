"""Row blocks: a large output computed a block of rows at a time."""

import contextlib

from keras_segup.ops import reference
from keras_segup.ops.dispatch import backend_ops

_unrolled_depth = 0


@contextlib.contextmanager
def unrolled_blocks():
    """Inside this context `map_row_blocks` is the Python loop on every backend.

    XLA's cost analysis counts a loop body once, so FLOP counts
    (`keras_segup.utils.profiling.jax_flops`) trace with the blocks unrolled.
    """
    global _unrolled_depth
    _unrolled_depth += 1
    try:
        yield
    finally:
        _unrolled_depth -= 1


def map_row_blocks(block, height, rows):
    """`block(start, count)` for every block of `rows` output rows, concatenated on axis 1.

    Decodes an output of `height` rows in blocks, so that only one block's
    temporaries are alive at a time: the blocks start at 0, `rows`,
    `2 * rows`, ..., each `rows` rows long, except the last, which may be
    shorter. `start` is always a multiple of `rows`.

    The portable version (also TensorFlow's and torch's) is a Python loop
    with Python int starts. JAX's runs the full blocks as one compiled loop
    (`lax.fori_loop`, `start` a traced int32 scalar) writing into one output
    buffer: a traced program of unrolled blocks lets XLA schedule them side
    by side, keeping all their temporaries alive (`unrolled_blocks` brings the
    Python loop back, for XLA's cost analysis). `block` must then slice
    with `keras.ops.slice` where `start` is a tensor, and give every full
    block the same shape.

    Args:
        block: callable `(start, count) -> tensor (B, count, ...)`.
        height: total rows, a positive Python int.
        rows: rows per block, a positive Python int.

    Returns:
        Tensor (B, height, ...), the blocks in order.

    Example:
    >>> x = keras.ops.reshape(keras.ops.arange(10.0), (1, 10, 1))
    >>> halves = lambda start, count: 2 * keras.ops.slice(x, (0, start, 0), (1, count, 1))
    >>> keras.ops.convert_to_numpy(map_row_blocks(halves, 10, 4))[0, :, 0].tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0]
    """
    if not (isinstance(height, int) and isinstance(rows, int) and height > 0 and rows > 0):
        raise ValueError(f"map_row_blocks needs positive int `height` and `rows`; got {height!r} and {rows!r}.")
    implementation = reference if _unrolled_depth else backend_ops()
    return implementation.map_row_blocks(block, height, rows)
