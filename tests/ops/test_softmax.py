import keras
import numpy as np
import pytest

from keras_segup import ops as segup_ops
from keras_segup.ops import criss_cross_softmax
from keras_segup.ops import reference
from tests.test_case import TestCase


def masked_softmax(energy_col, energy_row):
    """CCNet's formulation: -inf on the column's own pixel, one softmax over the concatenation."""
    height = energy_col.shape[-1]
    col = np.where(np.eye(height, dtype=bool)[None, :, None, :], -np.inf, energy_col)
    joint = np.concatenate([col, energy_row], axis=-1).astype("float64")
    weights = np.exp(joint - joint.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights[..., :height], weights[..., height:]


def energies(seed=0, shape=(2, 5, 7), scale=4.0):
    rng = np.random.default_rng(seed)
    b, h, w = shape
    return (rng.normal(size=(b, h, w, h)) * scale).astype("float32"), (rng.normal(size=(b, h, w, w)) * scale).astype("float32")


class TestCrissCrossSoftmax(TestCase):
    @pytest.mark.parametrize("implementation", ["backend", "portable"])
    def test_matches_the_masked_softmax(self, implementation):
        energy_col, energy_row = energies()
        if implementation == "portable":
            with segup_ops.portable():
                col, row, scale = criss_cross_softmax(energy_col, energy_row)
        else:
            col, row, scale = criss_cross_softmax(energy_col, energy_row)
        col, row, scale = (self.to_numpy(t) for t in (col, row, scale))
        expected_col, expected_row = masked_softmax(energy_col, energy_row)
        np.testing.assert_allclose(col * scale, expected_col, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(row * scale, expected_row, rtol=1e-5, atol=1e-6)

    def test_own_pixel_with_the_largest_energy(self):
        # the own pixel's energy is the maximum of both halves: the column must still leave it out
        energy_col, energy_row = energies(1, (1, 4, 4))
        for i in range(4):
            energy_col[0, i, :, i] = 30.0
            energy_row[0, i, :, :] = np.minimum(energy_row[0, i], 0.0)
            for j in range(4):
                energy_row[0, i, j, j] = 30.0
        expected_col, expected_row = masked_softmax(energy_col, energy_row)
        for implementation in (reference.criss_cross_softmax, reference.criss_cross_exponentials):
            tensors = keras.ops.convert_to_tensor(energy_col), keras.ops.convert_to_tensor(energy_row)
            col, row, scale = (self.to_numpy(t) for t in implementation(*tensors))
            np.testing.assert_allclose(col * scale, expected_col, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(row * scale, expected_row, rtol=1e-5, atol=1e-6)

    def test_symbolic_inputs_give_the_shapes(self):
        col, row, scale = criss_cross_softmax(keras.KerasTensor((None, 5, 7, 5)), keras.KerasTensor((None, 5, 7, 7)))
        assert (col.shape, row.shape, scale.shape) == ((None, 5, 7, 5), (None, 5, 7, 7), (None, 5, 7, 1))

    @pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFLite ops: TensorFlow")
    def test_portable_version_is_one_tflite_softmax(self):
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((1, 5, 7, 5)), tf.TensorSpec((1, 5, 7, 7))])
        def weights(energy_col, energy_row):
            with segup_ops.portable():
                return criss_cross_softmax(energy_col, energy_row)

        converter = tf.lite.TFLiteConverter.from_concrete_functions([weights.get_concrete_function()])
        interpreter = tf.lite.Interpreter(model_content=converter.convert())
        ops = [op["op_name"] for op in interpreter._get_ops_details()]
        assert ops.count("SOFTMAX") == 1 and "EXP" not in ops

    @pytest.mark.parametrize(
        "col_shape, row_shape",
        [((1, 5, 7, 7), (1, 5, 7, 7)), ((1, 5, 7, 5), (1, 5, 6, 6)), ((5, 7, 5), (5, 7, 7))],
    )
    def test_bad_shapes_are_named(self, col_shape, row_shape):
        with pytest.raises(ValueError, match=r"column energies \(B, H, W, H\) and row energies \(B, H, W, W\)"):
            criss_cross_softmax(np.zeros(col_shape, "float32"), np.zeros(row_shape, "float32"))
