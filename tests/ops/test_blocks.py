import keras
import numpy as np
import pytest

from keras_segup.ops import map_row_blocks
from keras_segup.ops import reference
from keras_segup.ops import unrolled_blocks
from tests.test_case import TestCase


def rows_times_index(x):
    """A block of `x` times its row numbers: each block must read its own rows."""

    def block(start, count):
        rows = keras.ops.slice(x, (0, start, 0), (x.shape[0], count, x.shape[2]))
        index = keras.ops.cast(keras.ops.arange(count) + start, x.dtype)
        return rows * index[None, :, None]

    return block


class TestMapRowBlocks(TestCase):
    @pytest.mark.parametrize("height,rows", [(10, 4), (12, 4), (7, 7), (5, 9), (9, 1)])
    def test_equals_the_whole_computation(self, height, rows):
        x = np.random.default_rng(0).normal(size=(2, height, 3)).astype("float32")
        expected = x * np.arange(height, dtype="float32")[None, :, None]
        block = rows_times_index(keras.ops.convert_to_tensor(x))
        np.testing.assert_array_equal(self.to_numpy(map_row_blocks(block, height, rows)), expected)
        np.testing.assert_array_equal(self.to_numpy(reference.map_row_blocks(block, height, rows)), expected)

    def test_full_blocks_then_a_shorter_last_one(self):
        seen = []

        def block(start, count):
            seen.append(count)
            return keras.ops.zeros((1, count, 2))

        assert tuple(map_row_blocks(block, 11, 4).shape) == (1, 11, 2)
        assert sorted(set(seen)) == [3, 4] and seen[-1] == 3  # blocks of 4, the last one of 3

    @pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's loop")
    def test_jax_runs_the_full_blocks_as_one_loop(self):
        import jax

        x = keras.ops.ones((1, 64, 5))
        looped = str(jax.make_jaxpr(lambda x: map_row_blocks(rows_times_index(x), 64, 8))(x))
        assert "scan" in looped or "while" in looped
        with unrolled_blocks():  # what FLOP counts trace
            unrolled = str(jax.make_jaxpr(lambda x: map_row_blocks(rows_times_index(x), 64, 8))(x))
        assert "scan" not in unrolled and "while" not in unrolled
        assert unrolled.count("mul") >= 8

    @pytest.mark.parametrize("height,rows", [(0, 4), (8, 0), (8.0, 4), (8, None)])
    def test_refuses_bad_sizes(self, height, rows):
        with pytest.raises(ValueError, match="positive int `height` and `rows`"):
            map_row_blocks(lambda start, count: None, height, rows)
