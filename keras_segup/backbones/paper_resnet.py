"""The papers' ResNets, layer for layer, in the key layout of their ImageNet checkpoints."""

import keras
import keras_hub

from keras_segup.backbones.torch_layers import Subsample2D
from keras_segup.backbones.torch_layers import TorchMaxPool2D
from keras_segup.layers.batch_normalization import BatchNormalization
from keras_segup.layers.conv2d import Conv2D

BLOCKS = {"basic": ((2, 2, 2, 2), (3, 4, 6, 3)), "bottleneck": ((3, 4, 6, 3), (3, 4, 23, 3))}


@keras.saving.register_keras_serializable(package="keras_segup")
class PaperResNetBackbone(keras_hub.models.FeaturePyramidBackbone):
    """A ResNet that computes exactly what a paper's PyTorch ResNet computes.

    keras-hub's `ResNetBackbone` cannot express the papers' variants: its
    convolutions pad the Keras way ("same", asymmetric at stride 2), its
    first-stage projection in deep-stem and stride-2 variants is ResNet-D's
    average pool, it has no LeakyReLU, no dilation and no `ceil_mode`
    max-pool. This class builds the torchvision layout with those options,
    every layer named after its PyTorch key (`layer1.0.downsample.0` is
    the layer `layer1_0_downsample_0`), so that the papers' ImageNet
    checkpoints load one to one (`keras_segup.backbones.load_torch_weights`).

    Args:
        block_type: `"basic"` (ResNet-18/34) or `"bottleneck"` (50/101),
            torchvision's v1.5 blocks (stride on the 3x3 convolution).
        stackwise_num_blocks: blocks of layer1..layer4.
        stem: `"7x7"` (one 7x7 convolution, 64 channels) or `"deep"` (3x3
            convolutions 64-64-128 as `conv1.0`, `conv1.3`, `conv1.6`).
        activation: `"relu"`, or `"leaky_relu"` (slope 0.01, FANet) after
            the batch norms of the stem and inside the blocks; the residual
            sum is always followed by ReLU.
        max_pool_ceil_mode: PyTorch's `ceil_mode` of the stem's 3x3 max-pool.
        stackwise_strides: strides of layer1..layer4 (FANet: 2 in layer1 too).
        stage4_dilations: dilation of each layer4 block's second 3x3
            convolution in basic blocks, of its 3x3 in bottlenecks (IFA's
            multi-grid: `(2, 2, 4)`; GAI: `(2, 2)`), default 1.
        image_shape: input shape, `(None, None, 3)` for any size.
        dtype: dtype policy.
        **kwargs: `keras.Model` arguments.

    `pyramid_outputs` holds `P2..P5`, the outputs of layer1..layer4 (at
    strides 4..32, or 8..64 with a stride-2 layer1).

    Example:
    >>> backbone = PaperResNetBackbone(stem="deep", max_pool_ceil_mode=True)
    >>> sorted(backbone.pyramid_outputs)
    ['P2', 'P3', 'P4', 'P5']
    """

    def __init__(
        self,
        block_type="basic",
        stackwise_num_blocks=(2, 2, 2, 2),
        stem="7x7",
        activation="relu",
        max_pool_ceil_mode=False,
        stackwise_strides=(1, 2, 2, 2),
        stage4_dilations=None,
        image_shape=(None, None, 3),
        dtype=None,
        **kwargs,
    ):
        if block_type not in BLOCKS:
            raise ValueError(f"`block_type` must be 'basic' or 'bottleneck'; got {block_type!r}.")
        if stem not in ("7x7", "deep"):
            raise ValueError(f"`stem` must be '7x7' or 'deep'; got {stem!r}.")
        if activation not in ("relu", "leaky_relu"):
            raise ValueError(f"`activation` must be 'relu' or 'leaky_relu'; got {activation!r}.")
        if len(stackwise_num_blocks) != 4 or len(stackwise_strides) != 4:
            raise ValueError(
                "`stackwise_num_blocks` and `stackwise_strides` need 4 values (layer1..layer4); "
                f"got {stackwise_num_blocks} and {stackwise_strides}."
            )
        dilations = tuple(stage4_dilations or (1,) * stackwise_num_blocks[3])
        if len(dilations) != stackwise_num_blocks[3]:
            raise ValueError(
                f"`stage4_dilations` needs one value per layer4 block ({stackwise_num_blocks[3]}); "
                f"got {dilations}."
            )
        graph = _Graph(dtype, activation)
        inputs = keras.Input(shape=image_shape)
        if stem == "deep":
            x = graph.conv_bn_act(inputs, 64, 3, 2, "conv1.0", "conv1.1")
            x = graph.conv_bn_act(x, 64, 3, 1, "conv1.3", "conv1.4")
            x = graph.conv_bn_act(x, 128, 3, 1, "conv1.6", "bn1")
            channels = 128
        else:
            x = graph.conv_bn_act(inputs, 64, 7, 2, "conv1", "bn1")
            channels = 64
        x = TorchMaxPool2D(3, 2, 1, ceil_mode=max_pool_ceil_mode, dtype=dtype, name="maxpool")(x)
        block = graph.bottleneck if block_type == "bottleneck" else graph.basic
        pyramid = {}
        for stage, (blocks, stride) in enumerate(zip(stackwise_num_blocks, stackwise_strides)):
            planes = 64 * 2**stage
            for index in range(blocks):
                dilation = dilations[index] if stage == 3 else 1
                prefix = f"layer{stage + 1}.{index}"
                x, channels = block(x, channels, planes, stride if index == 0 else 1, dilation, prefix)
            pyramid[f"P{stage + 2}"] = x
        super().__init__(inputs=inputs, outputs=x, dtype=dtype, **kwargs)
        self.pyramid_outputs = pyramid
        self.block_type = block_type
        self.stackwise_num_blocks = tuple(stackwise_num_blocks)
        self.stem = stem
        self.activation = activation
        self.max_pool_ceil_mode = max_pool_ceil_mode
        self.stackwise_strides = tuple(stackwise_strides)
        self.stage4_dilations = dilations
        self.image_shape = tuple(image_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "block_type": self.block_type,
            "stackwise_num_blocks": list(self.stackwise_num_blocks),
            "stem": self.stem,
            "activation": self.activation,
            "max_pool_ceil_mode": self.max_pool_ceil_mode,
            "stackwise_strides": list(self.stackwise_strides),
            "stage4_dilations": list(self.stage4_dilations),
            "image_shape": list(self.image_shape),
        }


class _Graph:
    """Adds PyTorch-equivalent layers to a functional graph, named by their torch keys."""

    def __init__(self, dtype, activation):
        self.dtype = dtype
        self.activation = activation

    def conv_bn(self, x, filters, kernel, stride, conv_name, bn_name, dilation=1):
        """A convolution and its batch norm, folded into it at inference."""
        padding = dilation * (kernel // 2)
        if dilation > 1 and stride > 1:
            # torch strides a dilated kernel, Keras cannot: with dilation = m * stride,
            # the taps s*i + d*k read every s-th padded row, then a kernel dilated by m
            if dilation % stride:
                raise ValueError(f"{conv_name}: dilation {dilation} must be a multiple of stride {stride}.")
            x = keras.layers.ZeroPadding2D(padding, dtype=self.dtype, name=f"{_name(conv_name)}_pad")(x)
            x = Subsample2D(stride, dtype=self.dtype, name=f"{_name(conv_name)}_stride")(x)
            stride, dilation, padding = 1, dilation // stride, 0
        conv = Conv2D(
            filters, kernel, strides=stride, dilation_rate=dilation, use_bias=False, explicit_padding=padding,
            kernel_initializer=_kaiming(), dtype=self.dtype, name=_name(conv_name),
        )
        norm = BatchNormalization(epsilon=1e-5, momentum=0.9, dtype=self.dtype, name=_name(bn_name))
        conv.fold(norm)
        return norm(conv(x))

    def act(self, x, name, kind=None):
        if (kind or self.activation) == "leaky_relu":
            return keras.layers.LeakyReLU(0.01, dtype=self.dtype, name=name)(x)
        return keras.layers.ReLU(dtype=self.dtype, name=name)(x)

    def conv_bn_act(self, x, filters, kernel, stride, conv_name, bn_name):
        x = self.conv_bn(x, filters, kernel, stride, conv_name, bn_name)
        return self.act(x, f"{_name(bn_name)}_act")

    def residual(self, x, shortcut, channels, out_channels, stride, prefix):
        if stride != 1 or channels != out_channels:
            shortcut = self.conv_bn(
                shortcut, out_channels, 1, stride, f"{prefix}.downsample.0", f"{prefix}.downsample.1"
            )
        x = keras.layers.Add(dtype=self.dtype, name=f"{_name(prefix)}_add")([x, shortcut])
        return self.act(x, f"{_name(prefix)}_out", kind="relu")

    def basic(self, x, channels, planes, stride, dilation, prefix):
        out = self.conv_bn_act(x, planes, 3, stride, f"{prefix}.conv1", f"{prefix}.bn1")
        out = self.conv_bn(out, planes, 3, 1, f"{prefix}.conv2", f"{prefix}.bn2", dilation)
        return self.residual(out, x, channels, planes, stride, prefix), planes

    def bottleneck(self, x, channels, planes, stride, dilation, prefix):
        out = self.conv_bn_act(x, planes, 1, 1, f"{prefix}.conv1", f"{prefix}.bn1")
        out = self.conv_bn(out, planes, 3, stride, f"{prefix}.conv2", f"{prefix}.bn2", dilation)
        out = self.act(out, f"{_name(prefix)}_bn2_act")
        out = self.conv_bn(out, 4 * planes, 1, 1, f"{prefix}.conv3", f"{prefix}.bn3")
        return self.residual(out, x, channels, 4 * planes, stride, prefix), 4 * planes


def _kaiming():
    """torch's `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, the papers' initialisation.

    A new initializer per layer: one unseeded instance shared by all layers
    would give same-shaped kernels the same draw, and take its seed at
    import time instead of from `keras.utils.set_random_seed`.
    """
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def _name(torch_key):
    """The Keras layer name of a PyTorch module key (no torch key component holds "_")."""
    return torch_key.replace(".", "_")


# name -> (constructor arguments, the paper's ImageNet checkpoint, keys it does not hold)
PAPER_BACKBONES = {
    # FANet (feinanshan/FANet): torchvision ResNet, stride 2 in layer1 too, BN + LeakyReLU;
    # it loads torchvision's checkpoints, whose layer1 has no projection
    "resnet18_fanet": dict(block_type="basic", stackwise_num_blocks=BLOCKS["basic"][0],
                           activation="leaky_relu", stackwise_strides=(2, 2, 2, 2)),
    "resnet34_fanet": dict(block_type="basic", stackwise_num_blocks=BLOCKS["basic"][1],
                           activation="leaky_relu", stackwise_strides=(2, 2, 2, 2)),
    # GAI (hustvl/simpleseg) on SFNet's deep-stem ResNet-18 (resnet18-deep-inplane128), with
    # its Cityscapes config's RESNET.DILATIONS (1, 2): dilation 2 in layer4's 3x3 convs, stride kept
    "resnet18_deep128": dict(block_type="basic", stackwise_num_blocks=BLOCKS["basic"][0], stem="deep",
                             stage4_dilations=(2, 2)),
    # IFA (hzhupku/IFA): PyTorch-Encoding's deep-stem ResNet, ceil-mode max-pool,
    # multi-grid dilations (2, 2, 4) in layer4, which keeps its stride 2
    "resnet50_deep_mg": dict(block_type="bottleneck", stackwise_num_blocks=BLOCKS["bottleneck"][0],
                             stem="deep", max_pool_ceil_mode=True, stage4_dilations=(2, 2, 4)),
    "resnet101_deep_mg": dict(block_type="bottleneck", stackwise_num_blocks=BLOCKS["bottleneck"][1],
                              stem="deep", max_pool_ceil_mode=True, stage4_dilations=(2, 2, 4)),
    # RSP (no code): the same deep-stem ResNet without multi-grid (docs/rsp.md)
    "resnet50_deep": dict(block_type="bottleneck", stackwise_num_blocks=BLOCKS["bottleneck"][0],
                          stem="deep", max_pool_ceil_mode=True),
    "resnet101_deep": dict(block_type="bottleneck", stackwise_num_blocks=BLOCKS["bottleneck"][1],
                           stem="deep", max_pool_ceil_mode=True),
}


def paper_backbone(name, dtype=None):
    """One of the papers' backbones by name (`PAPER_BACKBONES`).

    Args:
        name: e.g. `"resnet18_fanet"`, `"resnet18_deep128"`, `"resnet50_deep_mg"`.
        dtype: dtype policy.

    Returns:
        A `PaperResNetBackbone`.

    Example:
    >>> paper_backbone("resnet18_deep128").count_params()
    11335104
    """
    if name not in PAPER_BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; the papers' backbones: {sorted(PAPER_BACKBONES)}.")
    return PaperResNetBackbone(**PAPER_BACKBONES[name], dtype=dtype, name=name)
