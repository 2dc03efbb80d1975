import numpy as np
import pytest

from keras_segup.models.fanet.fanet_layers import FastAttention
from tests.test_case import TestCase


class TestFanetLayers(TestCase):
    def test_layer(self, tmp_path):
        self.run_layer_test(FastAttention, {"key_channels": 4}, self.realistic_features((2, 5, 7, 6)), (2, 5, 7, 6), tmp_path)

    def test_mixed_precision_large_map(self):
        # Q (K^T V) sums over all 32768 pixels: ~1e5, past float16's range. The
        # batch norm after it brings it back to O(1) with batch statistics (here)
        # or trained moving statistics; before it, float32 is required.
        x = self.realistic_features((1, 128, 256, 8))
        self.run_precision_test(FastAttention, {"key_channels": 4}, x, {"training": True})

    def test_equals_quadratic_attention(self):
        # Q (K^T V) == (Q K^T) V: the reordering changes the cost, not the result
        x = self.realistic_features((1, 6, 5, 4))
        layer = FastAttention(3)
        layer(x)

        def branch(block):
            return self.to_numpy(block(x, training=False))

        q, k, v = branch(layer.query), branch(layer.key), branch(layer.value)
        q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
        k = k / np.maximum(np.linalg.norm(k, axis=-1, keepdims=True), 1e-12)
        q, k, v = (a.reshape(30, -1) for a in (q, k, v))
        attended = ((q @ k.T) @ v).reshape(1, 6, 5, 4).astype("float32")
        expected = x + self.to_numpy(layer.projection(attended, training=False))
        np.testing.assert_allclose(self.to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-4)

    def test_rejects_wrong_channels_and_rank(self):
        layer = FastAttention(4)
        layer(np.ones((1, 4, 4, 6), "float32"))
        with pytest.raises(ValueError, match="expected axis -1"):
            layer(np.ones((1, 4, 4, 5), "float32"))
        with pytest.raises(ValueError, match="rank 4"):
            FastAttention(4)(np.ones((4, 4, 6), "float32"))

    def test_unknown_channel_count_is_refused_when_built(self):
        with pytest.raises(ValueError, match=r"FastAttention needs a known channel count; got shape \(1, 8, 8, None\)"):
            FastAttention(4).build((1, 8, 8, None))
