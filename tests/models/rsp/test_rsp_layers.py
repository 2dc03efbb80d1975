import numpy as np
import pytest

from keras_segup.models.rsp.rsp_layers import RelationalSemanticsExtractor
from keras_segup.models.rsp.rsp_layers import RelationalSemanticsPropagator
from tests.test_case import TestCase


def loop_rse(layer, low, high):
    """Slow, obviously-correct RSE: loops over pixels, heads and region positions."""
    def conv(x, conv_layer):
        w, b = (TestCase.to_numpy(v) for v in conv_layer.weights)
        return np.einsum("bhwc,cd->bhwd", x, w[0, 0]) + b

    q, k, v = conv(low, layer.query_conv), conv(high, layer.key_conv), conv(high, layer.value_conv)
    embedding = TestCase.to_numpy(layer.position_embedding)
    scale = np.minimum(np.exp(TestCase.to_numpy(layer.log_scale)), 100.0)
    heads, ksize = layer.num_heads, layer.kernel_size
    dk, dv = q.shape[-1] // heads, v.shape[-1] // heads
    batch, height, width, _ = low.shape
    in_h, in_w = high.shape[1:3]
    out = np.zeros((batch, height, width, v.shape[-1]))
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                cy = (2 * i + 1) * in_h // (2 * height)
                cx = (2 * j + 1) * in_w // (2 * width)
                for g in range(heads):
                    logits, values = [], []
                    for n in range(ksize * ksize):
                        y = cy + n // ksize - ksize // 2
                        x = cx + n % ksize - ksize // 2
                        if 0 <= y < in_h and 0 <= x < in_w:
                            query = q[b, i, j, g * dk : (g + 1) * dk]
                            key = k[b, y, x, g * dk : (g + 1) * dk]
                            cosine = query @ key / np.linalg.norm(query) / np.linalg.norm(key)
                            logits.append(scale[g] * cosine + embedding[n, g])
                            values.append(v[b, y, x, g * dv : (g + 1) * dv])
                    weights = np.exp(np.array(logits) - max(logits))
                    weights /= weights.sum()
                    out[b, i, j, g * dv : (g + 1) * dv] = weights @ np.array(values)
    return out


class TestRspLayers(TestCase):
    @pytest.mark.parametrize("low_size, high_size", [((6, 8), (3, 4)), ((7, 9), (4, 5)), ((5, 5), (5, 5))])
    def test_matches_loop_implementation(self, low_size, high_size):
        low = self.realistic_features((2, *low_size, 6), scale=1.0)
        high = self.realistic_features((2, *high_size, 8), seed=1, scale=1.0)
        layer = RelationalSemanticsExtractor(key_channels=4, num_heads=2, kernel_size=3)
        layer([low, high])
        rng = np.random.default_rng(2)
        layer.position_embedding.assign(rng.normal(size=(9, 2)).astype("float32"))
        layer.log_scale.assign(np.log([3.0, 300.0]).astype("float32"))  # the second is capped at 100
        np.testing.assert_allclose(self.to_numpy(layer([low, high])), loop_rse(layer, low, high), atol=1e-4)

    def test_extractor_layer(self, tmp_path):
        data = [self.realistic_features((2, 6, 8, 6)), self.realistic_features((2, 3, 4, 8), seed=1)]
        kwargs = {"key_channels": 4, "num_heads": 2, "kernel_size": 3}
        self.run_layer_test(RelationalSemanticsExtractor, kwargs, data, (2, 6, 8, 8), tmp_path)
        self.run_precision_test(RelationalSemanticsExtractor, kwargs, data)

    def test_propagator_layer(self, tmp_path):
        data = [self.realistic_features((2, 6, 8, 8)), self.realistic_features((2, 3, 4, 8), seed=1)]
        kwargs = {"key_channels": 4, "num_heads": 2, "kernel_size": 5}
        self.run_layer_test(RelationalSemanticsPropagator, kwargs, data, (2, 6, 8, 8), tmp_path)
        self.run_precision_test(RelationalSemanticsPropagator, kwargs, data)

    def test_bad_config_and_inputs(self):
        with pytest.raises(ValueError, match="divisible by `num_heads`"):
            RelationalSemanticsExtractor(key_channels=6, num_heads=4)
        with pytest.raises(ValueError, match="`kernel_size` must be an odd int"):
            RelationalSemanticsExtractor(kernel_size=4)
        with pytest.raises(ValueError, match="`initial_scale` must be in"):
            RelationalSemanticsExtractor(initial_scale=0)
        with pytest.raises(ValueError, match="divisible by `num_heads`"):
            RelationalSemanticsExtractor(8, num_heads=4)([np.ones((1, 4, 4, 8), "float32"), np.ones((1, 2, 2, 6), "float32")])
        with pytest.raises(ValueError, match="takes a list of 2 tensors"):
            RelationalSemanticsPropagator()(np.ones((1, 4, 4, 8), "float32"))
