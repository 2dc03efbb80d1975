"""The PyTorch-convention layers of the ported backbones against PyTorch itself."""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup.backbones.torch_layers import Subsample2D
from keras_segup.backbones.torch_layers import TorchMaxPool2D
from tests.test_case import TestCase


def torch_pool(x, ceil_mode):
    out = F.max_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), 3, 2, 1, ceil_mode=ceil_mode)
    return out.permute(0, 2, 3, 1).numpy()


class TestTorchLayers(TestCase):
    @pytest.mark.parametrize("size", [(9, 10), (10, 11), (12, 7), (5, 5)])
    @pytest.mark.parametrize("ceil_mode", [False, True])
    def test_max_pool_matches_torch(self, size, ceil_mode):
        x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32") - 2.0  # negatives
        layer = TorchMaxPool2D(3, 2, 1, ceil_mode=ceil_mode)
        expected = torch_pool(x, ceil_mode)
        np.testing.assert_array_equal(self.to_numpy(layer(x)), expected)
        assert layer.compute_output_shape((2, *size, 3)) == expected.shape

    @pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="sizes known at run time: TensorFlow")
    def test_max_pool_with_sizes_known_only_at_run_time(self):
        import tensorflow as tf

        layer = TorchMaxPool2D(3, 2, 1, ceil_mode=True)
        pool = tf.function(layer, input_signature=[tf.TensorSpec((1, None, None, 3))])
        for size in ((9, 10), (10, 11)):
            x = np.random.default_rng(1).normal(size=(1, *size, 3)).astype("float32")
            np.testing.assert_array_equal(pool(x).numpy(), torch_pool(x, True))

    def test_subsample(self):
        x = np.arange(2 * 5 * 6 * 1, dtype="float32").reshape(2, 5, 6, 1)
        layer = Subsample2D(2)
        np.testing.assert_array_equal(self.to_numpy(layer(x)), x[:, ::2, ::2])
        assert layer.compute_output_shape((2, 5, 6, 1)) == (2, 3, 3, 1)
