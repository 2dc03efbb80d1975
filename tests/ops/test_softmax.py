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


def energies(seed=0, shape=(2, 5, 7), scale=2.0):
    """Criss-cross energies of random queries and keys: the own pixel scores alike in both."""
    rng = np.random.default_rng(seed)
    q, k = (rng.normal(size=(*shape, 4)) * scale for _ in range(2))
    energy_col = np.einsum("bhwc,bgwc->bhwg", q, k)
    energy_row = np.einsum("bhwc,bhgc->bhwg", q, k)
    return energy_col.astype("float32"), energy_row.astype("float32")


def attend(col, row, values, scale=None):
    """Each pixel's weighted sum of the values of its column and row."""
    out = np.einsum("bhwg,bgwc->bhwc", col, values) + np.einsum("bhwg,bhgc->bhwc", row, values)
    return out if scale is None else out * scale


class TestCrissCrossSoftmax(TestCase):
    def attended(self, weights, values):
        col, row, scale = weights
        return attend(self.to_numpy(col), self.to_numpy(row), values, None if scale is None else self.to_numpy(scale))

    @pytest.mark.parametrize("implementation", ["backend", "portable"])
    def test_attends_as_the_masked_softmax(self, implementation):
        energy_col, energy_row = energies()
        values = np.random.default_rng(9).normal(size=(*energy_col.shape[:3], 3)).astype("float32")
        if implementation == "portable":
            with segup_ops.portable():
                weights = criss_cross_softmax(energy_col, energy_row)
        else:
            weights = criss_cross_softmax(energy_col, energy_row)
        expected = attend(*masked_softmax(energy_col, energy_row), values)
        np.testing.assert_allclose(self.attended(weights, values), expected, rtol=1e-5, atol=1e-6)
        # the weights of each pixel sum to one
        ones = np.ones_like(values)
        np.testing.assert_allclose(self.attended(weights, ones), 1.0, rtol=1e-6)

    def test_own_pixel_with_the_largest_energy(self):
        # the own pixel's energy is the maximum of both halves: the column must still leave it out
        energy_col, energy_row = energies(1, (1, 4, 4))
        for i in range(4):
            for j in range(4):
                energy_col[0, i, j, i] = energy_row[0, i, j, j] = 40.0
        values = np.random.default_rng(3).normal(size=(1, 4, 4, 2)).astype("float32")
        expected = attend(*masked_softmax(energy_col, energy_row), values)
        for implementation in (reference.criss_cross_softmax, reference.criss_cross_exponentials):
            tensors = keras.ops.convert_to_tensor(energy_col), keras.ops.convert_to_tensor(energy_row)
            got = self.attended(implementation(*tensors), values)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_symbolic_inputs_give_the_shapes(self):
        col, row, scale = criss_cross_softmax(keras.KerasTensor((None, 5, 7, 5)), keras.KerasTensor((None, 5, 7, 7)))
        assert (col.shape, row.shape, scale) == ((None, 5, 7, 5), (None, 5, 7, 7), None)

    @pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFLite ops: TensorFlow")
    def test_portable_version_is_one_int8_tflite_softmax(self):
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((1, 5, 7, 5)), tf.TensorSpec((1, 5, 7, 7))])
        def weights(energy_col, energy_row):
            with segup_ops.portable():
                return criss_cross_softmax(energy_col, energy_row)

        converter = tf.lite.TFLiteConverter.from_concrete_functions([weights.get_concrete_function()])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8
        converter.representative_dataset = lambda: (list(energies(seed, (1, 5, 7))) for seed in range(4))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        interpreter = tf.lite.Interpreter(model_content=converter.convert())
        ops = [op["op_name"] for op in interpreter._get_ops_details()]
        assert ops.count("SOFTMAX") == 1 and not {"EXP", "DIV"} & set(ops)

    @pytest.mark.parametrize(
        "col_shape, row_shape",
        [((1, 5, 7, 7), (1, 5, 7, 7)), ((1, 5, 7, 5), (1, 5, 6, 6)), ((5, 7, 5), (5, 7, 7))],
    )
    def test_bad_shapes_are_named(self, col_shape, row_shape):
        with pytest.raises(ValueError, match=r"column energies \(B, H, W, H\) and row energies \(B, H, W, W\)"):
            criss_cross_softmax(np.zeros(col_shape, "float32"), np.zeros(row_shape, "float32"))
