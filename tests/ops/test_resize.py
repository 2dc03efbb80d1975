import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup.ops import resize_bilinear
from tests.test_case import TestCase


class TestResize(TestCase):
    @pytest.mark.parametrize("size", [(33, 49), (5, 7), (9, 26), (18, 13)])
    @pytest.mark.parametrize("align_corners", [False, True])
    def test_matches_torch_interpolate(self, size, align_corners):
        x = np.random.default_rng(0).normal(size=(2, 9, 13, 3)).astype("float32")
        expected = F.interpolate(
            torch.from_numpy(x).permute(0, 3, 1, 2), size, mode="bilinear",
            align_corners=align_corners,
        ).permute(0, 2, 3, 1).numpy()
        got = self.to_numpy(resize_bilinear(x, size, align_corners))
        np.testing.assert_allclose(got, expected, atol=2e-6)
