import keras
import numpy as np
import pytest

from keras_segup.layers import BatchNormalization
from keras_segup.ops import affine_channels
from keras_segup.ops import reference
from tests.test_case import TestCase


class TestBatchNormalization(TestCase):
    def test_affine_channels_matches_reference(self):
        rng = np.random.default_rng(0)
        x, scale, shift = rng.normal(size=(2, 5, 7, 6)), rng.normal(size=(6,)), rng.normal(size=(6,))
        x, scale, shift = (a.astype("float32") for a in (x, scale, shift))
        expected = self.to_numpy(reference.affine_channels(*(keras.ops.convert_to_tensor(a) for a in (x, scale, shift))))
        np.testing.assert_allclose(self.to_numpy(affine_channels(x, scale, shift)), x * scale + shift, atol=1e-6)
        np.testing.assert_allclose(expected, x * scale + shift, atol=1e-6)

    @pytest.mark.parametrize("training", [False, True])
    @pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False, "epsilon": 1e-5}])
    def test_equals_keras_batch_normalization(self, training, kwargs, tmp_path):
        x = self.realistic_features((2, 6, 9, 5))
        ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
        ours.build(x.shape)
        theirs.build(x.shape)
        rng = np.random.default_rng(1)
        weights = [rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in theirs.get_weights()]
        ours.set_weights(weights)
        theirs.set_weights(weights)
        np.testing.assert_allclose(
            self.to_numpy(ours(x, training=training)), self.to_numpy(theirs(x, training=training)), atol=1e-5
        )
        if kwargs.get("scale", True):  # beta alone gets no gradient from a centred output
            self.run_layer_test(BatchNormalization, kwargs, x, x.shape, tmp_path)

    def test_mixed_precision_runs_keras_path(self):
        self.run_precision_test(BatchNormalization, {}, self.realistic_features((1, 6, 7, 5)))
