"""ResNet backbones from keras-hub, built from arguments (no download)."""

import keras_hub

from keras_segup.backbones.pyramid import pyramid_extractor  # noqa: F401  (moved there; the old path still works)

# depth -> (block type, blocks per stage)
RESNET_VARIANTS = {
    18: ("basic_block", (2, 2, 2, 2)),
    34: ("basic_block", (3, 4, 6, 3)),
    50: ("bottleneck_block", (3, 4, 6, 3)),
    101: ("bottleneck_block", (3, 4, 23, 3)),
}


def resnet_backbone(depth, deep_stem=False, extra_reduction=False, dtype=None):
    """A keras-hub `ResNetBackbone` configured like the segmentation papers.

    Args:
        depth: 18, 34, 50 or 101.
        deep_stem: three 3x3 convolutions (64, 64, 128 for GAI's ResNet-18;
            32, 32, 64 for ResNet-50/101 as IFA's deep-stem ResNet) instead
            of one 7x7. keras-hub needs a projection shortcut in the first
            stage then, which its "_vd" blocks provide (ResNet-D).
        extra_reduction: stride 2 in the first stage too (FANet), so P2..P5
            sit at strides 8, 16, 32, 64. The first stage then needs a
            projection shortcut as well ("_vd" blocks).
        dtype: dtype policy.

    Returns:
        A `keras_hub.models.ResNetBackbone` with `pyramid_outputs` P2..P5.

    Example:
    >>> backbone = resnet_backbone(18, deep_stem=True)
    >>> sorted(backbone.pyramid_outputs)
    ['P2', 'P3', 'P4', 'P5']
    """
    if depth not in RESNET_VARIANTS:
        raise ValueError(
            f"`depth` must be one of {sorted(RESNET_VARIANTS)}; got {depth!r}."
        )
    block_type, blocks = RESNET_VARIANTS[depth]
    if deep_stem:
        stem = [64, 64, 128] if block_type == "basic_block" else [32, 32, 64]
        stem_kernels = [3, 3, 3]
    else:
        stem, stem_kernels = [64], [7]
    if deep_stem or extra_reduction:
        block_type += "_vd"
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=stem,
        input_conv_kernel_sizes=stem_kernels,
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=list(blocks),
        stackwise_num_strides=[2 if extra_reduction else 1, 2, 2, 2],
        block_type=block_type,
        dtype=dtype,
    )
