import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_segup import ops as segup_ops
from keras_segup.layers import Conv2D
from keras_segup.layers import ConvBNAct
from keras_segup.ops import reference
from tests.test_case import TestCase


def tensors(*arrays):
    return [None if a is None else keras.ops.convert_to_tensor(a) for a in arrays]


IMPLEMENTATIONS = {
    "specialised": segup_ops.conv2d,
    "reference": lambda x, k, b, s, p, d: reference.conv2d(*tensors(x, k, b), (s, s), (p, p), (d, d)),
}

# (kernel, stride, padding, dilation): FANet's padded 1x1, strided and dilated 3x3, the 7x7 stem
CASES = [(1, 1, 0, 1), (1, 1, 1, 1), (3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4), (7, 2, 3, 1)]


def torch_conv(x, kernel, bias, stride, padding, dilation):
    out = F.conv2d(
        torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(kernel).permute(3, 2, 0, 1),
        None if bias is None else torch.from_numpy(bias), stride=stride, padding=padding, dilation=dilation,
    )
    return out.permute(0, 2, 3, 1).numpy()


class TestConv2D(TestCase):
    @pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
    @pytest.mark.parametrize("case", CASES)
    @pytest.mark.parametrize("use_bias", [False, True])
    def test_matches_torch(self, impl, case, use_bias):
        kernel_size, stride, padding, dilation = case
        rng = np.random.default_rng(0)
        x = rng.normal(size=(2, 13, 18, 5)).astype("float32")
        kernel = rng.normal(size=(kernel_size, kernel_size, 5, 6)).astype("float32")
        bias = rng.normal(size=(6,)).astype("float32") if use_bias else None
        expected = torch_conv(x, kernel, bias, stride, padding, dilation)
        got = self.to_numpy(IMPLEMENTATIONS[impl](x, kernel, bias, stride, padding, dilation))
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)

    def test_gradients_match_reference(self):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(1, 6, 7, 3)).astype("float32")
        kernel = rng.normal(size=(3, 3, 3, 4)).astype("float32")
        bias = rng.normal(size=(4,)).astype("float32")
        fast = self.gradient(lambda *t: segup_ops.conv2d(*t, padding=2, dilation=2), x, kernel, bias)
        slow = self.gradient(lambda *t: reference.conv2d(*t, (1, 1), (2, 2), (2, 2)), x, kernel, bias)
        for a, b in zip(fast, slow):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)

    @pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
    def test_activation_and_its_gradient(self, activation):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(1, 6, 7, 3)).astype("float32")
        kernel = rng.normal(size=(3, 3, 3, 4)).astype("float32")
        conv = torch_conv(x, kernel, None, 1, 1, 1)
        expected = np.where(conv > 0, conv, 0.0 if activation == "relu" else 0.01 * conv)
        got = self.to_numpy(segup_ops.conv2d(x, kernel, padding=1, activation=activation))
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)
        fast = self.gradient(lambda *t: segup_ops.conv2d(*t, padding=1, activation=activation), x, kernel)
        slow = self.gradient(
            lambda *t: reference.conv2d(*t, None, (1, 1), (1, 1), (1, 1), activation), x, kernel
        )
        for a, b in zip(fast, slow):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)

    def test_symbolic_and_mixed_dtypes(self):
        x = keras.Input((None, None, 5))
        out = segup_ops.conv2d(x, keras.ops.ones((3, 3, 5, 4)), padding=1, strides=2)
        assert out.shape == (None, None, None, 4)
        half = segup_ops.conv2d(np.ones((1, 5, 5, 2), "float16"), np.ones((1, 1, 2, 3), "float32"))
        assert keras.backend.standardize_dtype(half.dtype) == "float16"

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"kernel": np.ones((3, 3, 4, 2), "float32")}, "`kernel` reads 4 input channels but `x` has 5"),
            ({"bias": np.ones((3,), "float32")}, r"`bias` must have shape \(2,\)"),
            ({"padding": -1}, "`padding` must be an int >= 0"),
            ({"strides": (1, 0)}, "`strides` must be an int >= 1"),
            ({"dilation": 1.5}, "`dilation` must be an int >= 1"),
            ({"activation": "gelu"}, "`activation` must be one of"),
        ],
    )
    def test_bad_arguments_are_named(self, kwargs, match):
        args = {"x": np.ones((1, 5, 5, 5), "float32"), "kernel": np.ones((3, 3, 5, 2), "float32"), **kwargs}
        with pytest.raises(ValueError, match=match):
            segup_ops.conv2d(**args)

    def test_fold_batch_norm_equals_conv_then_batch_norm(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(2, 9, 10, 4)).astype("float32")
        kernel = rng.normal(size=(3, 3, 4, 6)).astype("float32")
        bias = rng.normal(size=(6,)).astype("float32")
        gamma, beta, mean = (rng.normal(size=(6,)).astype("float32") for _ in range(3))
        variance = rng.uniform(0.1, 2.0, size=(6,)).astype("float32")
        conv = torch_conv(x, kernel, bias, 1, 1, 1)
        expected = (conv - mean) / np.sqrt(variance + 1e-5) * gamma + beta
        folded = segup_ops.fold_batch_norm(kernel, bias, gamma, beta, mean, variance, 1e-5)
        got = self.to_numpy(segup_ops.conv2d(x, *folded, padding=1))
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)

    def test_fold_batch_norm_without_scale_or_offset(self):
        rng = np.random.default_rng(4)
        kernel = rng.normal(size=(1, 1, 3, 5)).astype("float32")
        gamma, beta, mean = (rng.normal(size=(5,)).astype("float32") for _ in range(3))
        variance = rng.uniform(0.1, 2.0, size=(5,)).astype("float32")
        for g, b in ((None, beta), (gamma, None), (None, None)):
            scale = (1.0 if g is None else g) / np.sqrt(variance + 1e-3)
            folded = segup_ops.fold_batch_norm(kernel, None, g, b, mean, variance, 1e-3)
            np.testing.assert_allclose(self.to_numpy(folded[0]), kernel * scale, rtol=1e-6)
            np.testing.assert_allclose(self.to_numpy(folded[1]), -mean * scale + (0.0 if b is None else b), rtol=1e-6, atol=1e-6)

    def test_inference_follows_weights_assigned_between_calls(self):
        # eager torch keeps folded weights between calls: an assigned weight must reach the output
        x = self.realistic_features((1, 9, 10, 4))
        block = ConvBNAct(6, 3)
        inputs = keras.Input(x.shape[1:])
        model = keras.Model(inputs, block(inputs))  # predict_on_batch: outside autograd on torch
        rng = np.random.default_rng(5)
        for _ in range(3):
            for variable in (block.conv.kernel, block.bn.moving_mean, block.bn.gamma):
                variable.assign(rng.normal(size=variable.shape).astype("float32"))
            conv = torch_conv(x, self.to_numpy(block.conv.kernel), None, 1, 1, 1)
            bn = block.bn
            expected = np.maximum(
                (conv - self.to_numpy(bn.moving_mean)) / np.sqrt(self.to_numpy(bn.moving_variance) + 1e-5)
                * self.to_numpy(bn.gamma) + self.to_numpy(bn.beta), 0,
            )
            for _ in range(2):
                np.testing.assert_allclose(model.predict_on_batch(x), expected, atol=1e-4, rtol=1e-5)

    @pytest.mark.skipif(keras.backend.backend() != "torch", reason="eager torch keeps folded weights")
    def test_torch_reuses_folded_weights_only_outside_autograd(self):
        block = ConvBNAct(6, 3)
        block.build((1, 9, 10, 4))
        with torch.no_grad():
            first, again = block.folded_weights(), block.folded_weights()
            assert first[0] is again[0] and first[1] is again[1]
            block.bn.moving_mean.assign(np.ones(6, "float32"))  # was 0: the bias drops by the scale
            changed = block.folded_weights()
            assert changed[0] is not first[0]
            scale = self.to_numpy(block.bn.gamma) / np.sqrt(self.to_numpy(block.bn.moving_variance) + 1e-5)
            np.testing.assert_allclose(self.to_numpy(changed[1]), self.to_numpy(first[1]) - scale, rtol=1e-5)
        recorded = block.folded_weights()
        assert recorded[0].requires_grad and recorded[0] is not block.folded_weights()[0]

    @pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is torch's")
    def test_compiles_without_a_graph_break(self):
        # the backend module was imported in each call, and the eager cache of torch-layout
        # kernels asked `is_inference()`: both broke torch.compile's graph
        import torch._dynamo

        x, kernel = torch.zeros((1, 8, 8, 4)), torch.zeros((3, 3, 4, 6))
        with torch.no_grad():
            segup_ops.conv2d(x, kernel, padding=1)
            torch._dynamo.reset()
            explained = torch._dynamo.explain(lambda t: segup_ops.conv2d(t, kernel, padding=1, activation="relu"))(x)
        assert explained.graph_break_count == 0, explained.break_reasons


class TestConv2DLayer(TestCase):
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"filters": 6, "kernel_size": 3, "padding": "same", "dilation_rate": 2},
            {"filters": 6, "kernel_size": 1, "use_bias": False},
            {"filters": 6, "kernel_size": 3, "strides": 2, "activation": "relu"},
            {"filters": 6, "kernel_size": 2, "padding": "same"},  # asymmetric: Keras's own path
            {"filters": 6, "kernel_size": 3, "groups": 2, "padding": "same"},
        ],
    )
    def test_equals_keras_conv2d(self, kwargs, tmp_path):
        x = self.realistic_features((2, 11, 14, 4))
        ours, theirs = Conv2D(**kwargs), keras.layers.Conv2D(**kwargs)
        ours.build(x.shape)
        theirs.build(x.shape)
        theirs.set_weights(ours.get_weights())
        np.testing.assert_allclose(self.to_numpy(ours(x)), self.to_numpy(theirs(x)), atol=2e-5, rtol=1e-5)
        self.run_layer_test(Conv2D, kwargs, x, tuple(theirs(x).shape), tmp_path)
