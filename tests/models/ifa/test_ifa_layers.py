import keras
import numpy as np
import pytest

from keras_segup.models.ifa.ifa_layers import ImplicitFeatureAlignment
from tests.test_case import TestCase

LEVELS = [(2, 9, 13, 6), (2, 5, 7, 6), (2, 3, 4, 6), (2, 2, 2, 6)]
KWARGS = {"num_classes": 3, "pos_dim": 8, "hidden_units": (16, 8)}


def levels(seed=0):
    return [TestCase.realistic_features(s, seed=seed + i, scale=1.0) for i, s in enumerate(LEVELS)]


def direct_ifa(layer, inputs, size):
    """The official formulation: concat [pe, feature] of every level, then the MLP."""
    height, width = size
    columns = []
    for level, x in enumerate(inputs):
        in_h, in_w = x.shape[1:3]
        i, j = np.arange(height), np.arange(width)
        iy = (2 * i + 1) * in_h // (2 * height)
        ix = (2 * j + 1) * in_w // (2 * width)
        rel_y = (2 * i + 1) * in_h / height - (2 * iy + 1)
        rel_x = (2 * j + 1) * in_w / width - (2 * ix + 1)
        rel = np.stack(np.meshgrid(rel_y, rel_x, indexing="ij"), -1)
        angles = rel @ TestCase.to_numpy(layer.frequencies[level]).T
        pe = np.concatenate([rel, np.sin(angles), np.cos(angles)], -1)
        feature = x[:, iy][:, :, ix]
        columns.append(np.broadcast_to(pe, (x.shape[0], *pe.shape)))
        columns.append(feature)
    h = np.concatenate(columns, -1) @ TestCase.to_numpy(layer.kernel) + TestCase.to_numpy(layer.bias)
    for i, norm in enumerate(layer.norms):
        if i > 0:
            dense = layer.denses[i - 1]
            h = h @ TestCase.to_numpy(dense.kernel) + TestCase.to_numpy(dense.bias)
        gamma, beta, mean, var = (TestCase.to_numpy(w) for w in norm.weights)
        h = np.maximum((h - mean) / np.sqrt(var + 1e-5) * gamma + beta, 0)
    return h @ TestCase.to_numpy(layer.classifier.kernel) + TestCase.to_numpy(layer.classifier.bias)


class TestIfaLayers(TestCase):
    def test_layer(self, tmp_path):
        self.run_layer_test(ImplicitFeatureAlignment, KWARGS, levels(), (2, 9, 13, 3), tmp_path)
        self.run_precision_test(ImplicitFeatureAlignment, KWARGS, levels())

    @pytest.mark.parametrize("size", [None, (9, 13), (18, 26), (31, 17)])
    def test_matches_direct_formulation_at_any_size(self, size):
        inputs = levels()
        layer = ImplicitFeatureAlignment(**KWARGS)
        out = self.to_numpy(layer(inputs, size=size))
        expected = direct_ifa(layer, inputs, size or (9, 13))
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)

    def test_chunked_decoding_equals_one_pass(self):
        inputs = levels()
        whole = ImplicitFeatureAlignment(**KWARGS)
        expected = self.to_numpy(whole(inputs, size=(40, 30)))
        chunked = ImplicitFeatureAlignment(**KWARGS, chunk_size=100)  # 3 rows per block
        chunked(inputs)
        chunked.set_weights(whole.get_weights())
        np.testing.assert_allclose(self.to_numpy(chunked(inputs, size=(40, 30))), expected, atol=1e-5)

    def test_chunked_decoding_in_a_compiled_model(self):
        # predict_on_batch compiles the call (jit, tf.function): the blocks
        # there are JAX's loop, with a traced start, or the graph's blocks
        inputs = levels()
        layer = ImplicitFeatureAlignment(**KWARGS, chunk_size=100)
        layer(inputs)
        expected = direct_ifa(layer, inputs, (40, 30))
        symbolic = [keras.Input(x.shape[1:]) for x in inputs]
        model = keras.Model(symbolic, layer(symbolic, size=(40, 30)))
        np.testing.assert_allclose(model.predict_on_batch(inputs), expected, rtol=1e-4, atol=1e-4)

    @pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's block loop")
    def test_jax_decodes_the_blocks_in_one_loop(self):
        # unrolled, XLA runs the blocks side by side with all their temporaries alive
        import jax

        inputs = levels()
        layer = ImplicitFeatureAlignment(**KWARGS, chunk_size=100)
        layer(inputs)
        program = str(jax.make_jaxpr(lambda *x: layer(list(x), size=(40, 30)))(*inputs))
        assert program.count("scan[") + program.count("while[") == 1

    @pytest.mark.parametrize("chunk_size", [None, 5 * 48, 9 * 48])
    def test_dividing_pyramid_broadcasts_in_any_block(self, chunk_size):
        # every level divides the output (the repeat is a broadcast add);
        # blocks of 5 rows (no level's cells whole) or 9 (rounded down to 8)
        shapes = [(2, 8, 12, 6), (2, 4, 6, 6), (2, 2, 3, 6), (2, 1, 2, 6)]
        inputs = [self.realistic_features(s, seed=i, scale=1.0) for i, s in enumerate(shapes)]
        layer = ImplicitFeatureAlignment(**KWARGS, **({"chunk_size": chunk_size} if chunk_size else {}))
        out = self.to_numpy(layer(inputs, size=(32, 48)))
        np.testing.assert_allclose(out, direct_ifa(layer, inputs, (32, 48)), rtol=1e-4, atol=1e-4)

    def test_rejects_bad_config_and_inputs(self):
        with pytest.raises(ValueError, match="`pos_dim` must be a multiple of 4"):
            ImplicitFeatureAlignment(3, pos_dim=6)
        layer = ImplicitFeatureAlignment(**KWARGS)
        layer(levels())
        bad = levels()
        bad[1] = np.ones((2, 5, 7, 4), "float32")
        with pytest.raises(ValueError, match="expected axis -1"):
            layer(bad)
        with pytest.raises(ValueError, match="rank 4"):
            ImplicitFeatureAlignment(**KWARGS)([np.ones((9, 13, 6), "float32")])
