import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup import ops as segup_ops
from keras_segup.ops import reference
from tests.test_case import TestCase

IMPLEMENTATIONS = {
    "specialised": segup_ops.extract_windows,
    "reference": lambda x, k, d: reference.extract_windows(
        keras.ops.convert_to_tensor(x), k, d
    ),
}


def torch_unfold(x, kernel_size, dilation):
    batch, height, width, channels = x.shape
    cols = F.unfold(
        torch.from_numpy(x).permute(0, 3, 1, 2),
        kernel_size,
        dilation=dilation,
        padding=dilation * (kernel_size // 2),
    )
    cols = cols.reshape(batch, channels, kernel_size**2, height, width)
    return cols.permute(0, 3, 4, 2, 1).numpy()


class TestExtractWindows(TestCase):
    @pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
    @pytest.mark.parametrize(
        "kernel_size, dilation", [(1, 1), (3, 1), (3, 2), (5, 1), (7, 3)]
    )
    def test_matches_torch_unfold(self, impl, kernel_size, dilation):
        x = np.random.default_rng(0).normal(size=(2, 7, 10, 3)).astype("float32")
        got = self.to_numpy(IMPLEMENTATIONS[impl](x, kernel_size, dilation))
        assert got.shape == (2, 7, 10, kernel_size**2, 3)
        np.testing.assert_allclose(got, torch_unfold(x, kernel_size, dilation), atol=1e-6)

    def test_window_order_and_zero_padding(self):
        x = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
        windows = self.to_numpy(segup_ops.extract_windows(x, 3))
        # centre element is the position itself; top-left of (0, 0) is padding
        np.testing.assert_array_equal(windows[..., 4, 0], x[..., 0])
        assert windows[0, 0, 0, 0, 0] == 0.0
        np.testing.assert_array_equal(windows[0, 1, 1, :, 0], [0, 1, 2, 4, 5, 6, 8, 9, 10])

    @pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
    def test_gradients_match_finite_differences(self, impl):
        x = np.random.default_rng(1).normal(size=(1, 3, 4, 2)).astype("float32")
        weights = np.random.default_rng(2).normal(size=(1, 3, 4, 9, 2)).astype("float32")

        def fn(a):
            return IMPLEMENTATIONS[impl](a, 3, 1) * keras.ops.convert_to_tensor(weights)

        (grad,) = self.gradient(fn, x)
        np.testing.assert_allclose(grad, self.numerical_gradient(fn, [x], 0), atol=2e-3)

    def test_symbolic_call_in_functional_model(self):
        inputs = keras.Input((None, None, 4))
        out = segup_ops.extract_windows(inputs, 3, dilation=2)
        assert out.shape == (None, None, None, 9, 4)
        model = keras.Model(inputs, out)
        assert model.predict(np.ones((2, 5, 6, 4), "float32"), verbose=0).shape == (2, 5, 6, 9, 4)

    @pytest.mark.parametrize(
        "x, kernel_size, dilation, message",
        [
            (np.zeros((4, 4, 2)), 3, 1, "`x` must have rank 4"),
            (np.zeros((1, 4, 4, 2)), 4, 1, "`kernel_size` must be an odd int"),
            (np.zeros((1, 4, 4, 2)), 0, 1, "`kernel_size` must be an odd int"),
            (np.zeros((1, 4, 4, 2)), 3, 0, "`dilation` must be an int >= 1"),
        ],
    )
    def test_bad_arguments(self, x, kernel_size, dilation, message):
        with pytest.raises(ValueError, match=message):
            segup_ops.extract_windows(x, kernel_size, dilation)
