"""`keras_segup.layers.Conv2D`: explicit padding, and the batch norm it folds at inference."""

import keras
import numpy as np
import pytest

from keras_segup.layers import BatchNormalization
from keras_segup.layers import Conv2D
from keras_segup.utils.latency import batch_norm_folding
from tests.test_case import TestCase


def randomise_statistics(norm, seed=0):
    rng = np.random.default_rng(seed)
    norm.set_weights([rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in norm.get_weights()])


def conv_bn(fold, seed=0, **conv_kwargs):
    """A model conv -> batch norm with random weights and statistics (the same for a seed)."""
    keras.utils.set_random_seed(seed)
    conv = Conv2D(6, 3, strides=2, explicit_padding=1, use_bias=True, **conv_kwargs)
    norm = BatchNormalization(epsilon=1e-5, dtype=conv_kwargs.get("dtype"))
    if fold:
        conv.fold(norm)
    inputs = keras.Input((11, 14, 4))
    model = keras.Model(inputs, norm(conv(inputs)))
    randomise_statistics(norm, seed)
    return model, conv, norm


class TestExplicitPadding(TestCase):
    @pytest.mark.parametrize("strides", [1, 2])
    @pytest.mark.parametrize("groups", [1, 2])
    def test_equals_zero_padding_then_valid_convolution(self, strides, groups):
        x = self.realistic_features((2, 11, 14, 4))
        padded = Conv2D(6, 3, strides=strides, groups=groups, explicit_padding=(1, 2))
        plain = keras.layers.Conv2D(6, 3, strides=strides, groups=groups)
        expected_shape = plain.compute_output_shape((2, 13, 18, 4))
        assert padded.compute_output_shape(x.shape) == expected_shape
        got = padded(x)
        plain.build((2, 13, 18, 4))
        plain.set_weights(padded.get_weights())
        expected = plain(keras.ops.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]]))
        assert tuple(got.shape) == expected_shape
        np.testing.assert_allclose(self.to_numpy(got), self.to_numpy(expected), atol=2e-5, rtol=1e-5)

    def test_config_round_trip(self):
        layer = Conv2D(6, 3, explicit_padding=(1, 2))
        again = Conv2D.from_config(layer.get_config())
        assert again.explicit_padding == (1, 2)
        assert again.compute_output_shape((1, 9, 9, 4)) == (1, 9, 11, 6)

    def test_bad_padding_is_named(self):
        with pytest.raises(ValueError, match="`explicit_padding` needs `padding='valid'`; got padding='same'"):
            Conv2D(6, 3, padding="same", explicit_padding=1)
        with pytest.raises(ValueError, match=r"`explicit_padding` must be an int >= 0 or a pair of them; got \(-1, -1\)"):
            Conv2D(6, 3, explicit_padding=-1)


class TestFoldedBatchNorm(TestCase):
    def test_inference_equals_the_unfolded_pair(self):
        x = self.realistic_features((2, 11, 14, 4))
        folded, conv, _ = conv_bn(fold=True)
        unfolded, _, _ = conv_bn(fold=False)
        assert conv.folds_batch_norm(training=False)
        np.testing.assert_allclose(
            folded.predict_on_batch(x), unfolded.predict_on_batch(x), atol=1e-5, rtol=1e-5
        )
        # the convolution alone already returns the normalised map
        np.testing.assert_allclose(
            self.to_numpy(conv(x)), unfolded.predict_on_batch(x), atol=1e-5, rtol=1e-5
        )
        assert batch_norm_folding(folded) == (1, 1)
        assert batch_norm_folding(unfolded) == (0, 1)

    def test_training_uses_the_batch_statistics(self):
        x = self.realistic_features((2, 11, 14, 4))
        folded, conv, _ = conv_bn(fold=True)
        unfolded, _, _ = conv_bn(fold=False)
        assert not conv.folds_batch_norm(training=True)
        np.testing.assert_allclose(
            self.to_numpy(folded(x, training=True)), self.to_numpy(unfolded(x, training=True)), atol=1e-5
        )

    def test_frozen_batch_norm_folds_in_training_with_the_same_gradients(self):
        x = self.realistic_features((1, 11, 14, 4))
        grads = []
        for fold in (True, False):
            model, conv, norm = conv_bn(fold=fold)
            norm.trainable = False
            assert conv.folds_batch_norm(training=True) == fold
            frozen = [v.value for v in model.non_trainable_variables]

            def outputs(kernel, bias, model=model, frozen=frozen):
                return model.stateless_call([kernel, bias], frozen, x, training=True)[0]

            grads.append(self.gradient(outputs, self.to_numpy(conv.kernel), self.to_numpy(conv.bias)))
        for folded, unfolded in zip(*grads):
            np.testing.assert_allclose(folded, unfolded, atol=1e-4, rtol=1e-4)

    def test_mixed_precision_does_not_fold(self):
        x = self.realistic_features((1, 11, 14, 4))
        model, conv, norm = conv_bn(fold=True, dtype="mixed_float16")
        unfolded, _, _ = conv_bn(fold=False, dtype="mixed_float16")
        assert not conv.folds_batch_norm(training=False)
        assert batch_norm_folding(model) == (0, 1)
        np.testing.assert_allclose(model.predict_on_batch(x), unfolded.predict_on_batch(x), atol=1e-2)

    def test_keras_file_round_trip_of_a_paper_backbone_keeps_folding(self, tmp_path):
        from keras_segup.backbones.paper_resnet import paper_backbone

        backbone = paper_backbone("resnet18_fanet")
        for layer in backbone.layers:
            if isinstance(layer, BatchNormalization):
                randomise_statistics(layer)
        image = self.realistic_features((1, 40, 56, 3))
        expected = backbone.predict_on_batch(image)
        backbone.save(tmp_path / "backbone.keras")
        restored = keras.saving.load_model(tmp_path / "backbone.keras")
        assert batch_norm_folding(restored) == (21, 21)
        np.testing.assert_allclose(restored.predict_on_batch(image), expected, atol=1e-4, rtol=1e-5)

    def test_bad_folds_are_named(self):
        with pytest.raises(ValueError, match="`fold` takes a keras_segup.layers.BatchNormalization; got Dense"):
            Conv2D(6, 3).fold(keras.layers.Dense(3))
        with pytest.raises(ValueError, match="a batch norm after activation 'relu' cannot be folded"):
            Conv2D(6, 3, activation="relu").fold(BatchNormalization())
