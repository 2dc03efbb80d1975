import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup import ops as segup_ops
from keras_segup.ops import reference
from tests.test_case import TestCase

IMPLEMENTATIONS = {
    "specialised": segup_ops.nearest_cell,
    "reference": lambda x, size: reference.nearest_cell(
        keras.ops.convert_to_tensor(x), size
    ),
}

# (H, W) -> (Ho, Wo): integer ratios (fast path), IFA's stride-4 grids,
# downsampling and identity; none has an exact half-way tie
SIZES = [
    ((4, 6), (16, 24)),
    ((5, 7), (33, 49)),
    ((9, 13), (33, 49)),
    ((17, 25), (33, 49)),
    ((33, 49), (33, 49)),
    ((7, 5), (3, 3)),
]


def oracle(x, size):
    """torch nearest-exact resize for features; the IFA formula for offsets."""
    height, width = x.shape[1:3]
    features = F.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size=size, mode="nearest-exact"
    ).permute(0, 2, 3, 1)
    i = np.arange(size[0])
    j = np.arange(size[1])
    iy = np.floor((2 * i + 1) * height / (2 * size[0]))
    ix = np.floor((2 * j + 1) * width / (2 * size[1]))
    rel_y = (2 * i + 1) * height / size[0] - (2 * iy + 1)
    rel_x = (2 * j + 1) * width / size[1] - (2 * ix + 1)
    offsets = np.stack(np.meshgrid(rel_y, rel_x, indexing="ij"), -1)
    return features.numpy(), offsets


class TestNearestCell(TestCase):
    @pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
    @pytest.mark.parametrize("in_size, size", SIZES)
    def test_matches_oracle(self, impl, in_size, size):
        x = np.random.default_rng(0).normal(size=(2, *in_size, 3)).astype("float32")
        features, offsets = IMPLEMENTATIONS[impl](x, size)
        expected_features, expected_offsets = oracle(x, size)
        np.testing.assert_array_equal(self.to_numpy(features), expected_features)
        np.testing.assert_allclose(self.to_numpy(offsets), expected_offsets, atol=1e-6)
        assert np.abs(self.to_numpy(offsets)).max() <= 1.0

    def test_agrees_with_grid_sample_nearest_at_cell_centres(self):
        # IFA's official formulation: grid_sample(nearest, align_corners=False)
        x = np.random.default_rng(1).normal(size=(1, 9, 13, 4)).astype("float32")
        size = (33, 49)
        ys = (2 * np.arange(size[0]) + 1) / size[0] - 1
        xs = (2 * np.arange(size[1]) + 1) / size[1] - 1
        grid = np.stack(np.meshgrid(xs, ys), -1)[None].astype("float32")
        expected = segup_ops.grid_sample(x, grid, mode="nearest")
        features, _ = segup_ops.nearest_cell(x, size)
        np.testing.assert_array_equal(self.to_numpy(features), self.to_numpy(expected))

    def test_symbolic_call_in_functional_model(self):
        inputs = keras.Input((4, 6, 3))
        features, offsets = segup_ops.nearest_cell(inputs, (8, 12))
        assert features.shape == (None, 8, 12, 3)
        assert offsets.shape == (8, 12, 2)
        model = keras.Model(inputs, features)
        out = model.predict(np.ones((2, 4, 6, 3), "float32"), verbose=0)
        np.testing.assert_array_equal(out, 1.0)

    @pytest.mark.parametrize(
        "x, size, message",
        [
            (np.zeros((4, 4, 2)), (8, 8), "`x` must have rank 4"),
            (np.zeros((1, 4, 4, 2)), (8,), "`size` must be a pair"),
            (np.zeros((1, 4, 4, 2)), (8, 0), "`size` must be an int >= 1"),
            (np.zeros((1, 4, 4, 2)), (8, 2.5), "`size` must be an int"),
        ],
    )
    def test_bad_arguments(self, x, size, message):
        with pytest.raises(ValueError, match=message):
            segup_ops.nearest_cell(x, size)
