"""The papers' backbones against PyTorch references in the official key layout."""

import keras
import numpy as np
import pytest
import torch

from keras_segup.backbones import PAPER_BACKBONES
from keras_segup.backbones import PaperResNetBackbone
from keras_segup.backbones import load_torch_weights
from keras_segup.backbones import paper_backbone
from keras_segup.backbones.pyramid import pyramid_extractor
from tests.test_case import TestCase

VARIANTS = sorted(PAPER_BACKBONES)


class TestPaperResNet(TestCase):
    @pytest.mark.parametrize("name", VARIANTS)
    def test_computes_what_the_official_backbone_computes(self, name):
        reference = self.torch_resnet(name)
        backbone = paper_backbone(name)
        assert backbone.count_params() == sum(p.numel() for p in reference.parameters()) + sum(
            b.numel() for n, b in reference.named_buffers() if not n.endswith("num_batches_tracked"))
        report = load_torch_weights(backbone, reference.state_dict())
        assert report["missing"] == [] and report["ignored"] == []
        image = np.random.default_rng(0).normal(size=(1, 3, 75, 97)).astype("float32")  # odd sizes
        with torch.no_grad():
            expected = [level.numpy().transpose(0, 2, 3, 1) for level in reference(torch.from_numpy(image))]
        got = pyramid_extractor(backbone).predict_on_batch(image.transpose(0, 2, 3, 1))
        for level, (ours, theirs) in enumerate(zip(got, expected)):
            assert ours.shape == theirs.shape, f"P{level + 2}"
            scale = np.abs(theirs).max()
            np.testing.assert_allclose(ours / scale, theirs / scale, atol=1e-5, err_msg=f"P{level + 2}")

    def test_keras_file_round_trip(self, tmp_path):
        backbone = paper_backbone("resnet50_deep_mg")
        image = np.random.default_rng(1).uniform(0, 1, (1, 67, 45, 3)).astype("float32")
        expected = backbone.predict_on_batch(image)
        backbone.save(tmp_path / "backbone.keras")
        restored = keras.saving.load_model(tmp_path / "backbone.keras")
        assert restored.get_config() == backbone.get_config()
        assert sorted(restored.pyramid_outputs) == ["P2", "P3", "P4", "P5"]
        np.testing.assert_allclose(restored.predict_on_batch(image), expected, atol=1e-5)

    def test_bad_arguments_are_named(self):
        with pytest.raises(ValueError, match="`stem` must be '7x7' or 'deep'; got 'wide'"):
            PaperResNetBackbone(stem="wide")
        with pytest.raises(ValueError, match=r"`stage4_dilations` needs one value per layer4 block \(2\)"):
            PaperResNetBackbone(stage4_dilations=(2, 2, 4))
        with pytest.raises(ValueError, match="Unknown backbone 'resnet18_sfnet'; the papers' backbones"):
            paper_backbone("resnet18_sfnet")


class TestPaperResNetInitialisation(TestCase):
    def test_every_convolution_draws_its_own_weights_from_the_global_seed(self):
        keras.utils.set_random_seed(3)
        first = paper_backbone("resnet18_deep128")
        keras.utils.set_random_seed(3)
        again = paper_backbone("resnet18_deep128")
        a = self.to_numpy(first.get_layer("layer1_0_conv2").kernel)
        b = self.to_numpy(first.get_layer("layer1_1_conv2").kernel)  # the same shape
        assert not np.allclose(a, b)
        np.testing.assert_array_equal(a, self.to_numpy(again.get_layer("layer1_0_conv2").kernel))
