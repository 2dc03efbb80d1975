import keras
import numpy as np

from keras_segup.models import HostOutputsModel
from tests.test_case import TestCase


def models():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    logits = keras.layers.Conv2D(19, 1, name="classifier")(inputs)
    outputs = [logits, keras.layers.Activation("relu")(logits)]
    return HostOutputsModel(inputs, outputs), keras.Model(inputs, outputs)


def images():
    return np.random.default_rng(0).normal(size=(2, 24, 40, 3)).astype("float32")


def kernel(model):
    return keras.ops.convert_to_numpy(model.get_layer("classifier").kernel)


class TestHostOutputsModel(TestCase):
    def test_outputs_are_keras_outputs_without_the_copy(self):
        ours, theirs = models()
        ours, theirs = ours.predict_on_batch(images()), theirs.predict_on_batch(images())
        assert isinstance(ours, list) and len(ours) == 2
        for a, b in zip(ours, theirs):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
            # Keras copies every output into an array of its own; ours is the backend's buffer
            assert b.flags.owndata and not a.flags.owndata

    def test_training_after_prediction_starts_from_the_same_weights(self):
        model, keras_model = models()  # sharing their layers
        before = kernel(model)
        model.predict_on_batch(images())
        np.testing.assert_array_equal(kernel(model), before)
        model.compile("sgd", "mse")
        target = np.ones((2, 24, 40, 19), "float32")
        model.fit(images(), [target, target], verbose=0)
        assert not np.allclose(kernel(model), before)
        np.testing.assert_allclose(
            model.predict_on_batch(images())[0], keras_model.predict_on_batch(images())[0], atol=1e-6
        )

    def test_keras_file_round_trip(self, tmp_path):
        model, _ = models()
        model.save(tmp_path / "model.keras")
        restored = keras.saving.load_model(tmp_path / "model.keras")
        assert isinstance(restored, HostOutputsModel)
        np.testing.assert_array_equal(restored.predict_on_batch(images())[0], model.predict_on_batch(images())[0])

    def test_segmenters_after_a_functional_model(self):
        # Keras turns a functional model's class into a `Functional` subclass: the
        # segmenters' base must not be that class
        models()
        model = self.small_segmenter("fanet", self.tiny_backbone())
        logits = model.predict_on_batch(np.zeros((1, 64, 64, 3), "float32"))
        assert logits.shape == (1, 64, 64, 5) and not logits.flags.owndata
