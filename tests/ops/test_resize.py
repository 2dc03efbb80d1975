import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup.ops import l2_normalize
from keras_segup.ops import nearest_cell_axis
from keras_segup.ops import resize_bilinear
from tests.test_case import TestCase


def torch_resize(x, size, align_corners):
    return F.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size, mode="bilinear", align_corners=align_corners,
    ).permute(0, 2, 3, 1).numpy()


class TestResize(TestCase):
    @pytest.mark.parametrize("size", [(33, 49), (5, 7), (9, 26), (18, 13)])
    @pytest.mark.parametrize("align_corners", [False, True])
    def test_matches_torch_interpolate(self, size, align_corners):
        x = np.random.default_rng(0).normal(size=(2, 9, 13, 3)).astype("float32")
        got = self.to_numpy(resize_bilinear(x, size, align_corners))
        np.testing.assert_allclose(got, torch_resize(x, size, align_corners), atol=2e-6)

    @pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="graph tensors as sizes: TensorFlow")
    @pytest.mark.parametrize("align_corners", [False, True])
    def test_sizes_known_only_at_run_time(self, align_corners):
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3)), tf.TensorSpec((1, None, None, 3))])
        def resize_like(x, like):
            return resize_bilinear(x, keras.ops.shape(like)[1:3], align_corners)

        x = np.random.default_rng(1).normal(size=(1, 9, 13, 3)).astype("float32")
        got = resize_like(x, np.zeros((1, 33, 49, 3), "float32")).numpy()
        np.testing.assert_allclose(got, torch_resize(x, (33, 49), align_corners), atol=2e-6)

    def test_bad_size_is_named(self):
        with pytest.raises(ValueError, match=r"`size` must be an int pair \(out_height, out_width\); got \(8, 2.5\)"):
            resize_bilinear(np.zeros((1, 4, 4, 2), "float32"), (8, 2.5))

    def test_l2_normalize_matches_torch(self):
        x = np.random.default_rng(2).normal(size=(2, 5, 7, 8)).astype("float32")
        x[0, 0, 0] = 0.0  # all-zero vectors stay zero, as in F.normalize
        expected = F.normalize(torch.from_numpy(x), dim=-1).numpy()
        np.testing.assert_allclose(self.to_numpy(l2_normalize(x)), expected, atol=1e-6)

    def test_nearest_cell_axis(self):
        index, offset = nearest_cell_axis(3, 8)
        centres = (2 * np.arange(8) + 1) * 3 / 16  # target centres in source cells
        np.testing.assert_array_equal(self.to_numpy(index), np.floor(centres).astype("int32"))
        np.testing.assert_allclose(self.to_numpy(offset), 2 * (centres - np.floor(centres)) - 1, atol=1e-6)


class TestResizeImplementations(TestCase):
    @pytest.mark.parametrize("align_corners", [False, True])
    def test_backend_kernel_matches_portable_and_taps(self, align_corners):
        from keras_segup import ops as segup_ops
        from keras_segup.ops import reference

        x = np.random.default_rng(3).normal(size=(2, 17, 31, 4)).astype("float32")
        fast = self.to_numpy(resize_bilinear(x, (64, 121), align_corners))
        with segup_ops.portable():
            portable = self.to_numpy(resize_bilinear(x, (64, 121), align_corners))
        taps = self.to_numpy(reference.resize_bilinear_taps(keras.ops.convert_to_tensor(x), (64, 121), align_corners))
        np.testing.assert_allclose(fast, portable, atol=3e-6)
        np.testing.assert_allclose(fast, taps, atol=3e-6)

    def test_symbolic_input(self):
        out = resize_bilinear(keras.Input((9, 13, 3)), (33, 49), align_corners=True)
        assert out.shape == (None, 33, 49, 3)

    @pytest.mark.parametrize("align_corners", [False, True])
    def test_keeps_the_dtype(self, align_corners):
        x = keras.ops.ones((1, 5, 7, 2), "bfloat16")
        out = resize_bilinear(x, (9, 13), align_corners)
        assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
