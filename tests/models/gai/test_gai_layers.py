import numpy as np
import pytest

from keras_segup.models.gai.gai_layers import CrissCrossAttention
from keras_segup.models.gai.gai_layers import GuidedAttentiveInterpolation
from tests.test_case import TestCase


def loop_criss_cross(query, value, layer):
    """Per-pixel loops over the CCNet formula, with the layer's weights."""
    def conv(x, conv_layer):
        w, b = (TestCase.to_numpy(v) for v in conv_layer.weights)
        return np.einsum("bhwc,cd->bhwd", x, w[0, 0]) + b

    q, k, v = conv(query, layer.query_conv), conv(value, layer.key_conv), conv(value, layer.value_conv)
    gamma = float(TestCase.to_numpy(layer.gamma)[0])
    out = np.empty_like(value)
    batch, height, width, _ = value.shape
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                column = [q[b, i, j] @ k[b, g, j] for g in range(height) if g != i]
                row = [q[b, i, j] @ k[b, i, g] for g in range(width)]
                energies = np.array(column + row)
                weights = np.exp(energies - energies.max())
                weights /= weights.sum()
                sources = [v[b, g, j] for g in range(height) if g != i] + [v[b, i, g] for g in range(width)]
                out[b, i, j] = gamma * (weights @ np.array(sources)) + value[b, i, j]
    return out


class TestGaiLayers(TestCase):
    def test_matches_loop_formula(self):
        rng = np.random.default_rng(0)
        query = rng.normal(size=(2, 5, 6, 4)).astype("float32")
        value = rng.normal(size=(2, 5, 6, 3)).astype("float32")
        layer = CrissCrossAttention(2)
        layer([query, value])
        layer.gamma.assign([0.7])
        np.testing.assert_allclose(
            self.to_numpy(layer([query, value])), loop_criss_cross(query, value, layer), atol=1e-5
        )

    def test_criss_cross_layer(self, tmp_path):
        data = [self.realistic_features((2, 5, 7, 8)), self.realistic_features((2, 5, 7, 8), seed=1)]
        layer = self.run_layer_test(CrissCrossAttention, {"key_channels": 2}, data, (2, 5, 7, 8), tmp_path)
        # gamma starts at 0: the block starts as the identity on `value`
        np.testing.assert_allclose(self.to_numpy(layer(data)), data[1], atol=1e-6)
        self.run_precision_test(CrissCrossAttention, {"key_channels": 2}, data)

    def test_cross_layer_attention(self, tmp_path):
        data = [self.realistic_features((2, 9, 11, 16)), self.realistic_features((2, 5, 6, 16), seed=1)]
        self.run_layer_test(GuidedAttentiveInterpolation, {"channels": 16}, data, (2, 9, 11, 16), tmp_path)
        self.run_precision_test(GuidedAttentiveInterpolation, {"channels": 16}, data)

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="takes a list of 2 tensors"):
            CrissCrossAttention(2)(np.ones((1, 4, 4, 3), "float32"))
        with pytest.raises(ValueError, match="same height and width"):
            CrissCrossAttention(2)([np.ones((1, 4, 4, 3), "float32"), np.ones((1, 5, 4, 3), "float32")])
        with pytest.raises(ValueError, match="rank 4"):
            GuidedAttentiveInterpolation(16)([np.ones((4, 4, 3), "float32"), np.ones((1, 2, 2, 3), "float32")])
        layer = GuidedAttentiveInterpolation(16)
        layer([np.ones((1, 4, 4, 8), "float32"), np.ones((1, 2, 2, 8), "float32")])
        with pytest.raises(ValueError, match="expected axis -1"):
            layer([np.ones((1, 4, 4, 8), "float32"), np.ones((1, 2, 2, 5), "float32")])
