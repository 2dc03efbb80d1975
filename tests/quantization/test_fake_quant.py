"""The int8 grids of `keras_segup.quantization`: activations as Keras's (TensorFlow's) fake
quantization, weights symmetric per channel, and straight-through gradients."""

import keras
import numpy as np
import pytest

from keras_segup.quantization import activation_grid
from keras_segup.quantization import fake_quantize_activations
from keras_segup.quantization import fake_quantize_weights
from tests.test_case import TestCase


class TestFakeQuant(TestCase):
    # a range that does not hold 0 is widened to it, as TFLite's calibration does
    @pytest.mark.parametrize("low, high, held", [(-1.7, 3.1, (-1.7, 3.1)), (0.0, 6.0, (0.0, 6.0)),
                                                 (0.4, 2.0, (0.0, 2.0)), (-5.0, -0.3, (-5.0, 0.0))])
    def test_activations_are_kerass_fake_quantization(self, low, high, held):
        # random values: exact halfway points round by float error (x / scale or (x - low) / scale)
        x = np.random.default_rng(0).uniform(-8.0, 8.0, 4000).astype("float32")
        got = self.to_numpy(fake_quantize_activations(x, low, high))
        # Keras nudges the range so that 0 is on the grid, as TFLite's converter does
        expected = self.to_numpy(keras.quantizers.fake_quant_with_min_max_vars(x, *held, num_bits=8))
        np.testing.assert_allclose(got, expected, atol=1e-5)
        scale, zero_point = (float(v) for v in activation_grid(low, high))
        assert len(np.unique(got)) <= 256 and float(zero_point).is_integer() and -128 <= zero_point <= 127
        np.testing.assert_allclose(np.round(got / scale), got / scale, atol=1e-3)  # on the grid's steps

    def test_activation_gradient_passes_straight_through_inside_the_range(self):
        x = np.array([-3.0, -0.2, 0.0, 0.77, 1.9, 2.5], "float32")
        (grad,) = self.gradient(lambda t: fake_quantize_activations(t, -1.0, 2.0), x)
        np.testing.assert_array_equal(grad, [0, 1, 1, 1, 1, 0])

    def test_weights_are_symmetric_int8_per_output_channel(self):
        kernel = np.random.default_rng(0).normal(0, 1, (3, 3, 4, 6)).astype("float32")
        kernel[..., 5] *= 1e-3  # a channel of small weights keeps its own scale
        got = self.to_numpy(fake_quantize_weights(kernel))
        scale = np.abs(kernel).max(axis=(0, 1, 2)) / 127
        steps = got / scale
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
        assert np.abs(np.round(steps)).max() == 127
        assert np.all(np.abs(got - kernel) <= scale * (0.5 + 1e-4))  # the nearest step of its own channel

    def test_depthwise_kernels_round_per_input_channel_and_multiplier(self):
        kernel = np.random.default_rng(1).normal(0, 1, (3, 3, 4, 2)).astype("float32")
        got = self.to_numpy(fake_quantize_weights(kernel, channel_axes=(-2, -1)))
        steps = got / (np.abs(kernel).max(axis=(0, 1)) / 127)
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)

    def test_zero_channel_stays_zero_and_gradient_is_the_identity(self):
        kernel = np.random.default_rng(2).normal(0, 1, (1, 1, 3, 2)).astype("float32")
        kernel[..., 1] = 0.0
        got = self.to_numpy(fake_quantize_weights(kernel))
        assert np.all(got[..., 1] == 0) and np.all(np.isfinite(got))
        (grad,) = self.gradient(lambda t: fake_quantize_weights(t) * 3.0, kernel)
        np.testing.assert_array_equal(grad, np.full_like(kernel, 3.0))
