"""Every head on keras-hub's feature pyramid backbones: levels chosen by stride, not name.

The default suite runs each head on a different backbone (a diagonal of the
matrix) and every backbone at least once; `--run-large` runs all 4 x 5.
"""

import keras
import numpy as np
import pytest

from keras_segup.backbones import choose_levels
from keras_segup.backbones import paper_backbone
from keras_segup.backbones import pyramid_strides
from keras_segup.models import FANetSegmenter
from keras_segup.models import GAISegmenter
from keras_segup.models import Segmenter
from tests.test_case import TestCase

BACKEND = keras.backend.backend()
FAMILIES = ("fanet", "gai", "ifa", "rsp")
DIAGONAL = (("gai", "mit"), ("ifa", "efficientnet"), ("fanet", "cspnet"), ("rsp", "densenet"))
MATRIX = [
    pytest.param(family, kind, marks=() if (family, kind) in DIAGONAL else pytest.mark.large)
    for family in FAMILIES
    for kind in TestCase.HUB_BACKBONES
]
MIT_SIZE = 96  # keras-hub's MiT takes one static square size, a multiple of 32
ODD_SIZE = (70, 90)  # a multiple of no stride but 2


def images(size, batch=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)).astype("float32")


def size_for(kind):
    return (MIT_SIZE, MIT_SIZE) if kind == "mit" else ODD_SIZE


class TestHubBackbones(TestCase):
    @pytest.mark.parametrize("kind", TestCase.HUB_BACKBONES)
    def test_levels_chosen_by_measured_stride(self, kind):
        backbone = self.hub_backbone(kind)
        measured = pyramid_strides(backbone)
        names, strides = choose_levels(backbone, ((8, 16, 32, 64), (4, 8, 16, 32)))
        assert strides == (4, 8, 16, 32)  # none of them has a stride-64 level
        assert [measured[name][0] for name in names] == [4, 8, 16, 32]
        if kind == "mit":  # keras-hub names MiT's stride-4 level P1
            assert list(measured) == ["P1", "P2", "P3", "P4"] and names == ["P1", "P2", "P3", "P4"]
        if kind == "efficientnet":  # its P1 (stride 2) is not read
            assert measured["P1"][0] == 2 and names == ["P2", "P3", "P4", "P5"]

    def test_strides_survive_ceil_mode_pooling(self):
        # IFA's ResNet pools in ceil mode: 17 pixels at stride 32 of a 512 input
        assert [s for s, _ in pyramid_strides(paper_backbone("resnet50_deep_mg")).values()] == [4, 8, 16, 32]

    @pytest.mark.parametrize("family, kind", MATRIX)
    def test_head_on_backbone(self, family, kind, tmp_path):
        model = self.small_segmenter(family, self.hub_backbone(kind, MIT_SIZE), num_classes=3)
        size = size_for(kind)
        x = images(size, batch=2)
        logits = model.predict_on_batch(x[:1])
        assert logits.shape == (1, *size, 3) and np.isfinite(logits).all()
        if kind == "mit":  # one static size: others are refused by name, `segment` resizes
            with pytest.raises(ValueError, match=rf"built for {MIT_SIZE}x{MIT_SIZE} images and got 70x90.*size=\({MIT_SIZE}, {MIT_SIZE}\)"):
                model.predict_on_batch(images((70, 90)))
            assert model.segment(images((70, 90)), size=size).shape == (1, 70, 90)
        model.compile(total_steps=10, warmup_steps=0)
        labels = np.random.default_rng(1).integers(0, 3, (2, *size)).astype("int32")
        history = model.fit(x, labels, epochs=1, batch_size=2, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        model.save(tmp_path / "m.keras")
        restored = keras.saving.load_model(tmp_path / "m.keras")
        assert restored.feature_strides == model.feature_strides
        np.testing.assert_allclose(
            restored.predict_on_batch(x[:1]), model.predict_on_batch(x[:1]), atol=1e-5, rtol=1e-5
        )

    @pytest.mark.skipif(BACKEND != "tensorflow", reason="exports in process on TensorFlow")
    @pytest.mark.parametrize("family, kind", MATRIX)
    def test_tflite_export_verified(self, family, kind, tmp_path):
        from keras_segup.export import export_tflite

        model = self.small_segmenter(family, self.hub_backbone(kind, MIT_SIZE), num_classes=3)
        size = (MIT_SIZE, MIT_SIZE) if kind == "mit" else (64, 96)
        report = export_tflite(model, tmp_path / "m.tflite", size)
        assert report["class_agreement"] >= 0.9999 and report["max_abs_diff"] <= 1e-3

    def test_fanet_prefers_its_paper_strides(self):
        paper = FANetSegmenter(num_classes=3, head_kwargs=self.SMALL_SEGMENTERS["fanet"][1])
        assert paper.feature_strides == (8, 16, 32, 64)
        hub = self.small_segmenter("fanet", self.hub_backbone("mit"))
        assert hub.feature_strides == (4, 8, 16, 32)

    def test_missing_strides_say_what_the_backbone_has(self):
        with pytest.raises(ValueError, match=r"strides \(8, 16, 32, 64\).*P1 \(stride 4, 8 channels\)"):
            FANetSegmenter(num_classes=3, backbone=self.hub_backbone("mit"), feature_strides=(8, 16, 32, 64))

    @pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="only TensorFlow relaxes its traces")
    def test_static_backbone_refuses_other_sizes_in_fit_and_evaluate(self):
        import tensorflow as tf

        model = self.small_segmenter("gai", self.hub_backbone("mit", MIT_SIZE), num_classes=3)
        model.compile(total_steps=10, warmup_steps=0)
        right = images((MIT_SIZE, MIT_SIZE), batch=2), np.zeros((2, MIT_SIZE, MIT_SIZE), "int32")
        model.fit(*right, verbose=0)
        model.evaluate(*right, verbose=0)  # the next sizes would retrace TensorFlow's functions relaxed
        x, y = images((70, 90), batch=2), np.zeros((2, 70, 90), "int32")
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
        message = rf"built for {MIT_SIZE}x{MIT_SIZE} images and got 70x90"
        for run in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                    lambda: model.fit(dataset, verbose=0), lambda: model.evaluate(dataset, verbose=0)):
            with pytest.raises(ValueError, match=message):
                run()

    @pytest.mark.parametrize("strides", [(4, 8, 16), (8, 4, 16, 32), (4, 8, 16, 32.0), "4,8,16,32", (0, 8, 16, 32)])
    def test_bad_feature_strides(self, strides):
        with pytest.raises(ValueError, match="`feature_strides` must be four increasing strides"):
            GAISegmenter(num_classes=3, backbone=self.tiny_backbone(), feature_strides=strides)

    def test_feature_strides_pick_other_levels(self):
        # EfficientNet's P1..P4 (strides 2..16) instead of the usual 4..32
        model = GAISegmenter(num_classes=3, backbone=self.hub_backbone("efficientnet"),
                             feature_strides=(2, 4, 8, 16), head_kwargs=self.SMALL_SEGMENTERS["gai"][1])
        assert model.predict_on_batch(images((64, 64))).shape == (1, 64, 64, 3)
        assert GAISegmenter.from_config(model.get_config()).feature_strides == (2, 4, 8, 16)

    def test_non_square_mit_is_refused(self):
        import keras_hub

        config = self.hub_backbone("mit").get_config()
        try:
            backbone = keras_hub.models.MiTBackbone.from_config({**config, "image_shape": (64, 96, 3)})
        except Exception:  # keras-hub itself cannot build it on JAX
            pytest.skip("keras-hub cannot build a non-square MiT on this backend")
        with pytest.raises(ValueError, match=r"only works on square images.*image_shape=\(S, S, 3\)"):
            self.small_segmenter("ifa", backbone)

    def test_keras_hub_preset_name_resolves(self, monkeypatch):
        import keras_hub

        asked = []

        def from_preset(handle, **kwargs):
            asked.append(handle)
            return self.hub_backbone("efficientnet")

        monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", from_preset)
        model = self.small_segmenter("rsp", "efficientnet_b0_ra_imagenet", num_classes=3)
        assert asked == ["efficientnet_b0_ra_imagenet"]
        assert isinstance(model, Segmenter) and model.feature_strides == (4, 8, 16, 32)
        assert model.predict_on_batch(images(ODD_SIZE)).shape == (1, *ODD_SIZE, 3)
