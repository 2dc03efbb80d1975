import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup import ops as segup_ops
from keras_segup.ops import reference
from tests.test_case import TestCase

IMPLEMENTATIONS = {
    "specialised": segup_ops.grid_sample,
    "reference": lambda x, g, m, p, a: reference.grid_sample(
        keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(g), m, p, a
    ),
}


def torch_grid_sample(x, grid, mode, padding_mode, align_corners):
    out = F.grid_sample(
        torch.from_numpy(x).permute(0, 3, 1, 2),
        torch.from_numpy(grid),
        mode=mode,
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
    return out.permute(0, 2, 3, 1).numpy()


class TestGridSample(TestCase):
    @pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
    @pytest.mark.parametrize("mode", ["bilinear", "nearest"])
    @pytest.mark.parametrize("padding_mode", ["zeros", "border"])
    @pytest.mark.parametrize("align_corners", [False, True])
    def test_matches_torch(self, impl, mode, padding_mode, align_corners):
        rng = np.random.default_rng(0)
        # odd, non-square input, batch 2, grid reaching past the borders
        x = rng.normal(size=(2, 7, 11, 5)).astype("float32")
        grid = rng.uniform(-1.25, 1.25, size=(2, 9, 13, 2)).astype("float32")
        # exact corners and edges too
        grid[:, 0, :4] = [[-1, -1], [1, 1], [-1, 1], [1, -1]]
        expected = torch_grid_sample(x, grid, mode, padding_mode, align_corners)
        got = self.to_numpy(
            IMPLEMENTATIONS[impl](x, grid, mode, padding_mode, align_corners)
        )
        assert got.shape == (2, 9, 13, 5)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)

    def test_upsampling_grid_matches_torch(self):
        # IFA-like use: a dense grid of cell centres, 4x upsampling
        rng = np.random.default_rng(1)
        x = rng.normal(size=(1, 5, 8, 3)).astype("float32")
        ys = (np.arange(20) + 0.5) / 20 * 2 - 1
        xs = (np.arange(32) + 0.5) / 32 * 2 - 1
        grid = np.stack(np.meshgrid(xs, ys), -1)[None].astype("float32")
        expected = torch_grid_sample(x, grid, "bilinear", "border", False)
        got = self.to_numpy(segup_ops.grid_sample(x, grid, padding_mode="border"))
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)

    @pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
    def test_bilinear_gradients_match_finite_differences(self, impl):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(1, 3, 4, 2)).astype("float32")
        # keep samples away from integer pixel positions, where bilinear has kinks
        grid = rng.uniform(-0.9, 0.9, size=(1, 2, 3, 2)).astype("float32")

        def fn(a, g):
            return IMPLEMENTATIONS[impl](a, g, "bilinear", "zeros", False)

        grad_x, grad_grid = self.gradient(fn, x, grid)
        np.testing.assert_allclose(
            grad_x, self.numerical_gradient(fn, [x, grid], 0), atol=2e-3
        )
        np.testing.assert_allclose(
            grad_grid, self.numerical_gradient(fn, [x, grid], 1), atol=2e-2
        )

    def test_symbolic_call_in_functional_model(self):
        images = keras.Input((None, None, 6))
        grid = keras.Input((10, 12, 2))
        out = segup_ops.grid_sample(images, grid, align_corners=True)
        assert out.shape == (None, 10, 12, 6)
        model = keras.Model([images, grid], out)
        x = np.ones((3, 5, 7, 6), "float32")
        g = np.zeros((3, 10, 12, 2), "float32")
        np.testing.assert_allclose(model.predict([x, g], verbose=0), 1.0, atol=1e-6)

    def test_half_precision_input(self):
        x = np.random.default_rng(3).normal(size=(1, 4, 4, 2)).astype("float32")
        grid = np.zeros((1, 2, 2, 2), "float32")
        out = segup_ops.grid_sample(keras.ops.cast(x, "bfloat16"), grid)
        assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"x": np.zeros((4, 4, 2))}, "`x` must have rank 4"),
            ({"grid": np.zeros((1, 3, 3, 3))}, "last axis of `grid`"),
            ({"grid": np.zeros((2, 3, 3, 2))}, "same batch size"),
            ({"mode": "bicubic"}, "`mode` must be one of"),
            ({"padding_mode": "reflection"}, "`padding_mode` must be one of"),
            ({"align_corners": "yes"}, "`align_corners` must be True or False"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        args = {
            "x": np.zeros((1, 4, 4, 2), "float32"),
            "grid": np.zeros((1, 3, 3, 2), "float32"),
            **kwargs,
        }
        with pytest.raises(ValueError, match=message):
            segup_ops.grid_sample(**args)
