"""The papers' backbones against PyTorch references in the official key layout."""

import numpy as np
import pytest
import torch

from keras_segup.backbones import PAPER_BACKBONES
from keras_segup.backbones import load_torch_weights
from keras_segup.backbones import paper_backbone
from keras_segup.backbones.resnet import pyramid_extractor
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
