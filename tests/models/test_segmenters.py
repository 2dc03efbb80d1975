import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from keras_segup.models import FANetSegmenter
from keras_segup.models import GAISegmenter
from tests.test_case import TestCase


def images(batch=2, size=(70, 100), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)).astype("float32")


OTHER_BACKEND = {"jax": "torch", "torch": "tensorflow", "tensorflow": "jax"}
SAVE_SCRIPT = """
import numpy as np, keras
from keras_segup.models import FANetSegmenter
from tests.test_case import TestCase
model = FANetSegmenter(num_classes=5, backbone=TestCase.tiny_backbone(),
                       head_kwargs={{"channels": 16, "aux_channels": 8, "classifier_channels": 16}})
x = np.random.default_rng(0).uniform(0, 255, (1, 70, 100, 3)).astype("float32")
np.save(r"{out}/logits.npy", keras.ops.convert_to_numpy(model.predict_on_batch(x)))
model.save(r"{out}/model.keras")
"""


class TestSegmenters(TestCase):
    @pytest.mark.parametrize("name", sorted(TestCase.SMALL_SEGMENTERS))
    def test_outputs_at_input_size(self, name, backbone):
        model = self.small_segmenter(name, backbone)
        x = images()
        logits = model(x)
        assert tuple(logits.shape) == (2, 70, 100, 5)
        classes = model.segment(x)
        assert classes.dtype == np.int32 and classes.shape == (2, 70, 100)
        np.testing.assert_array_equal(classes, np.argmax(self.to_numpy(logits), -1))
        train_out = model(x, training=True)
        assert tuple(train_out["logits"].shape) == (2, 70, 100, 5)
        assert len(train_out["aux"]) == self.SMALL_SEGMENTERS[name][2]
        assert all(tuple(a.shape) == (2, 70, 100, 5) for a in train_out["aux"])

    def test_fit_one_step_with_defaults(self, backbone):
        model = self.small_segmenter("fanet", backbone)
        model.compile(total_steps=10, warmup_steps=2)
        labels = np.random.default_rng(1).integers(0, 5, (2, 70, 100)).astype("int32")
        labels[:, :10] = 255  # ignored pixels
        history = model.fit(images(), labels, epochs=1, batch_size=2, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert 0.0 <= history.history["mean_iou"][0] <= 1.0

    def test_keras_file_keeps_compile_state(self, backbone, tmp_path):
        model = self.small_segmenter("fanet", backbone)
        model.compile(loss="ohem", total_steps=10, warmup_steps=2)
        labels = np.random.default_rng(1).integers(0, 5, (2, 70, 100)).astype("int32")
        model.fit(images(), labels, epochs=1, batch_size=1, verbose=0)
        model.save(tmp_path / "model.keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # Keras warns when it cannot compile
            restored = keras.saving.load_model(tmp_path / "model.keras")
        assert type(restored.segmentation_loss).__name__ == "OHEMCrossEntropy"
        assert int(restored.optimizer.iterations) == 2
        assert len(restored.optimizer.variables) == len(model.optimizer.variables)
        for got, expected in zip(restored.optimizer.variables, model.optimizer.variables):
            np.testing.assert_allclose(self.to_numpy(got), self.to_numpy(expected))
        history = restored.fit(images(), labels, epochs=1, batch_size=2, verbose=0)
        assert np.isfinite(history.history["loss"][0]) and "mean_iou" in history.history

    def test_aux_losses_weighted_as_the_paper(self, backbone):
        model = self.small_segmenter("gai", backbone)
        model.compile()
        x = images(batch=1)
        labels = np.random.default_rng(2).integers(0, 5, (1, 70, 100)).astype("int32")
        outputs = model(x, training=True)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
        expected = ce(labels, outputs["logits"]) + ce(labels, outputs["aux"][0]) + ce(labels, outputs["aux"][1])
        got = model.compute_loss(x, labels, outputs)
        np.testing.assert_allclose(self.to_numpy(got), self.to_numpy(expected), rtol=1e-5)

    def test_ifa_output_size(self, backbone):
        model = self.small_segmenter("ifa", backbone)
        assert tuple(model(images(), output_size=(35, 50)).shape) == (2, 35, 50, 5)

    def test_keras_save_load(self, backbone, tmp_path):
        model = self.small_segmenter("rsp", backbone)
        x = images(batch=1)
        expected = self.to_numpy(model(x))
        path = tmp_path / "rsp.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        np.testing.assert_allclose(self.to_numpy(restored(x)), expected, atol=1e-5)

    def test_bad_inputs(self, backbone):
        model = self.small_segmenter("gai", backbone)
        with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
            model(np.zeros((1, 64, 64, 4), "float32"))
        with pytest.raises(ValueError, match="Could not load the keras-hub backbone preset 'vgg_9000'"):
            GAISegmenter(num_classes=5, backbone="vgg_9000")
        with pytest.raises(ValueError, match="has no `pyramid_outputs`.*FeaturePyramidBackbone"):
            GAISegmenter(num_classes=5, backbone=keras.Sequential([keras.Input((8, 8, 3))]))

    def test_keras_file_from_another_backend(self, tmp_path):
        other = OTHER_BACKEND[keras.backend.backend()]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        subprocess.run(
            [sys.executable, "-c", SAVE_SCRIPT.format(out=tmp_path)],
            env={**os.environ, "KERAS_BACKEND": other, "PYTHONPATH": root},
            check=True, capture_output=True, cwd=root,
        )
        model = keras.saving.load_model(tmp_path / "model.keras")
        x = np.random.default_rng(0).uniform(0, 255, (1, 70, 100, 3)).astype("float32")
        expected = np.load(tmp_path / "logits.npy")
        # same weights, other kernels: equal up to float32 rounding of logits
        # whose magnitude reaches a few hundred
        scale = np.abs(expected).max()
        np.testing.assert_allclose(self.to_numpy(model(x)), expected, rtol=0, atol=1e-5 * scale)

    def test_keras_hub_backbone_preset_folder(self, tmp_path):
        backbone = self.tiny_backbone()
        backbone.save_to_preset(tmp_path / "hub_resnet")
        model = FANetSegmenter(num_classes=3, backbone=str(tmp_path / "hub_resnet"),
                               head_kwargs=self.SMALL_SEGMENTERS["fanet"][1])
        for ours, saved in zip(model.backbone.weights, backbone.weights):
            np.testing.assert_array_equal(self.to_numpy(ours), self.to_numpy(saved))
        assert tuple(model(images(batch=1, size=(64, 64))).shape) == (1, 64, 64, 3)

    @pytest.mark.parametrize("name", sorted(TestCase.SMALL_SEGMENTERS))
    def test_sizes_unknown_until_run_time(self, name, backbone):
        # predict at several sizes: TensorFlow retraces with None height and width
        model = self.small_segmenter(name, backbone)
        for size in ((64, 96), (70, 100), (45, 77)):
            assert model.predict_on_batch(images(batch=1, size=size)).shape == (1, *size, 5)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            graph = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec((None, None, None, 3))])
            x = images(batch=1, size=(45, 77))
            np.testing.assert_allclose(graph(x).numpy(), self.to_numpy(model(x)), atol=1e-4)

    @pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is torch's")
    def test_normalization_compiles_without_a_graph_break(self):
        import torch
        import torch._dynamo

        model = self.small_segmenter("fanet")
        torch._dynamo.reset()
        explained = torch._dynamo.explain(model.normalize)(torch.zeros((1, 8, 8, 3)))
        assert explained.graph_break_count == 0, explained.break_reasons
