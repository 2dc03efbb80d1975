import keras
import numpy as np
import pytest

from keras_segup.layers.classifier_block import ClassifierBlock
from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.global_context import GlobalContext
from tests.test_case import TestCase


class TestConvBnAct(TestCase):
    @pytest.mark.parametrize(
        "kwargs, expected",
        [
            ({"filters": 8, "kernel_size": 3}, (2, 7, 9, 8)),
            ({"filters": 8, "kernel_size": 1, "padding": 1, "activation": "leaky_relu"}, (2, 9, 11, 8)),
            ({"filters": 4, "kernel_size": 3, "strides": 2, "use_bias": True, "activation": None}, (2, 4, 5, 4)),
        ],
    )
    def test_conv_bn_act(self, kwargs, expected, tmp_path):
        self.run_layer_test(ConvBNAct, kwargs, self.realistic_features((2, 7, 9, 5)), expected, tmp_path)

    def test_conv_bn_act_leaky_slope_is_pytorch_default(self):
        layer = ConvBNAct(1, 1, activation="leaky_relu", use_bias=False)
        layer.build((1, 1, 1, 1))
        layer.conv.kernel.assign(np.ones((1, 1, 1, 1)))
        out = keras.ops.convert_to_numpy(layer(np.full((1, 1, 1, 1), -2.0, "float32")))
        np.testing.assert_allclose(out, -0.02, rtol=1e-4)

    def test_conv_bn_act_rejects_unknown_activation(self):
        with pytest.raises(ValueError, match="`activation` must be one of"):
            ConvBNAct(4, activation="gelu")

    def test_classifier_block(self, tmp_path):
        self.run_layer_test(
            ClassifierBlock,
            {"channels": 8, "num_classes": 5, "kernel_size": 3},
            self.realistic_features((2, 6, 10, 4)),
            (2, 6, 10, 5),
            tmp_path,
        )

    def test_global_context(self, tmp_path):
        self.run_layer_test(GlobalContext, {"channels": 6}, self.realistic_features((2, 5, 7, 6)), (2, 5, 7, 6), tmp_path)
        self.run_precision_test(GlobalContext, {"channels": 6}, self.realistic_features((1, 5, 7, 6)))

    def test_global_context_rejects_wrong_channels(self):
        with pytest.raises(ValueError, match="GlobalContext expects"):
            GlobalContext(6)(np.ones((1, 4, 4, 5), "float32"))

    @pytest.mark.parametrize(
        "cls, kwargs",
        [(ConvBNAct, {"filters": 4, "kernel_size": 3}), (ClassifierBlock, {"channels": 4, "num_classes": 3})],
    )
    def test_mixed_precision_and_bad_inputs(self, cls, kwargs):
        self.run_precision_test(cls, kwargs, self.realistic_features((1, 6, 7, 5)))
        layer = cls(**kwargs)
        layer(np.ones((1, 6, 7, 5), "float32"))
        with pytest.raises(ValueError, match="reads 5 input channels but `x` has 4"):
            layer(np.ones((1, 6, 7, 4), "float32"))
        with pytest.raises(ValueError):
            cls(**kwargs)(np.ones((6, 7, 5), "float32"))
