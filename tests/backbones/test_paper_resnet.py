"""The papers' backbones against PyTorch references in the official key layout."""

import numpy as np
import pytest
import torch
from torch import nn

from keras_segup.backbones import PAPER_BACKBONES
from keras_segup.backbones import load_torch_weights
from keras_segup.backbones import paper_backbone
from keras_segup.backbones.resnet import pyramid_extractor
from tests.test_case import TestCase


class TorchBlock(nn.Module):
    """torchvision's BasicBlock/Bottleneck with the papers' options (activation, dilation)."""

    def __init__(self, bottleneck, inplanes, planes, stride, dilation, leaky):
        super().__init__()
        self.bottleneck = bottleneck
        self.act = nn.LeakyReLU(0.01) if leaky else nn.ReLU()
        out = planes * (4 if bottleneck else 1)
        if bottleneck:
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
        else:
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(planes), nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(self.act(out)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + shortcut)


class TorchResNet(nn.Module):
    """The official layouts: `conv1`/`bn1` or the deep stem `conv1.{0,1,3,4,6}` + `bn1`, layer1..4."""

    def __init__(self, block_type="basic", stackwise_num_blocks=(2, 2, 2, 2), stem="7x7",
                 activation="relu", max_pool_ceil_mode=False, stackwise_strides=(1, 2, 2, 2),
                 stage4_dilations=None):
        super().__init__()
        leaky = activation == "leaky_relu"
        self.act = nn.LeakyReLU(0.01) if leaky else nn.ReLU()
        if stem == "deep":
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 128, 3, 1, 1, bias=False),
            )
            inplanes = 128
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            inplanes = 64
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=max_pool_ceil_mode)
        bottleneck = block_type == "bottleneck"
        dilations = stage4_dilations or (1,) * stackwise_num_blocks[3]
        for stage, (blocks, stride) in enumerate(zip(stackwise_num_blocks, stackwise_strides)):
            planes, layer = 64 * 2**stage, []
            for index in range(blocks):
                dilation = dilations[index] if stage == 3 else 1
                layer.append(TorchBlock(bottleneck, inplanes, planes, stride if index == 0 else 1, dilation, leaky))
                inplanes = planes * (4 if bottleneck else 1)
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))

    def forward(self, x):
        x = self.conv1(x)
        if isinstance(self.conv1, nn.Sequential):  # the deep stem's ReLUs sit inside conv1
            x = torch.relu(self.bn1(x))
        else:
            x = self.act(self.bn1(x))
        x = self.maxpool(x)
        levels = []
        for stage in range(1, 5):
            x = getattr(self, f"layer{stage}")(x)
            levels.append(x)
        return levels


def randomised(module, seed=0):
    """Random weights and batch-norm statistics, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2.0 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
    return module.eval()


# the two of each depth family that the presets use, plus ResNet-34 and ResNet-101 variants
VARIANTS = sorted(PAPER_BACKBONES)


class TestPaperResNet(TestCase):
    @pytest.mark.parametrize("name", VARIANTS)
    def test_computes_what_the_official_backbone_computes(self, name):
        reference = randomised(TorchResNet(**PAPER_BACKBONES[name]))
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
