"""`keras_segup.ops.max_pool2d`: the backend's kernel and the portable one against PyTorch."""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup.ops import max_pool2d
from keras_segup.ops import portable
from tests.test_case import TestCase


def torch_pool(x, pool_size, strides, padding, ceil_mode):
    out = F.max_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), pool_size, strides, padding, ceil_mode=ceil_mode)
    return out.permute(0, 2, 3, 1).numpy()


class TestMaxPool2D(TestCase):
    @pytest.mark.parametrize("path", ["backend", "portable"])
    @pytest.mark.parametrize("size", [(9, 10), (10, 11), (12, 7), (5, 5)])
    @pytest.mark.parametrize("window", [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
    @pytest.mark.parametrize("ceil_mode", [False, True])
    def test_matches_torch(self, path, size, window, ceil_mode):
        # negative values: -inf (or border-repeating) padding differs from zero padding there
        x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32") - 2.0
        if path == "portable":
            with portable():
                got = max_pool2d(x, *window, ceil_mode=ceil_mode)
        else:
            got = max_pool2d(x, *window, ceil_mode=ceil_mode)
        np.testing.assert_array_equal(self.to_numpy(got), torch_pool(x, *window, ceil_mode))

    def test_portable_path_in_a_model_of_unknown_size(self):
        # the padding a traced model of unknown size needs for `ceil_mode` is a tensor there
        with portable():
            inputs = keras.Input((None, None, 3))
            model = keras.Model(inputs, max_pool2d(inputs, 3, 2, 1, ceil_mode=True))
        for size in ((9, 10), (12, 7)):
            x = np.random.default_rng(2).normal(size=(1, *size, 3)).astype("float32") - 2.0
            with portable():
                got = model.predict_on_batch(x)
            np.testing.assert_array_equal(got, torch_pool(x, 3, 2, 1, True))

    def test_gradient_matches_portable(self):
        x = np.random.default_rng(1).normal(size=(1, 9, 10, 2)).astype("float32")
        fast = self.gradient(lambda t: max_pool2d(t, 3, 2, 1, ceil_mode=True), x)

        def slow(t):
            with portable():
                return max_pool2d(t, 3, 2, 1, ceil_mode=True)

        np.testing.assert_allclose(fast[0], self.gradient(slow, x)[0])

    def test_symbolic_shape(self):
        out = max_pool2d(keras.Input((9, 10, 4)), 3, 2, 1, ceil_mode=True)
        assert out.shape == (None, 5, 6, 4)
        assert max_pool2d(keras.Input((None, None, 4))).shape == (None, None, None, 4)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"pool_size": 0}, "`pool_size` must be an int >= 1; got 0"),
            ({"strides": 1.5}, "`strides` must be an int >= 1; got 1.5"),
            ({"padding": 2}, "`padding` must be at most half of `pool_size` (1); got 2"),
        ],
    )
    def test_bad_arguments_are_named(self, kwargs, message):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            max_pool2d(np.zeros((1, 5, 5, 1), "float32"), **{"pool_size": 3, **kwargs})

    def test_bad_rank_is_named(self):
        with pytest.raises(ValueError, match=r"`x` must have rank 4"):
            max_pool2d(np.zeros((5, 5, 1), "float32"))
