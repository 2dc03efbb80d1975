"""The four feature levels a head reads, chosen by their measured stride."""

import keras

# the smaller of the two input sides that measure a backbone that takes any size
PROBE_SIZE = 512


def static_image_size(backbone):
    """`(height, width)` a backbone was built for, or None when it takes any size."""
    shape = tuple(backbone.inputs[0].shape)
    if shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def pyramid_strides(backbone):
    """Stride and channels of each pyramid output of a backbone, measured from the shapes.

    Names are not trusted: keras-hub calls MiT's stride-4 level `P1` and
    ResNet's `P2`. Each output's stride is the input size divided by its
    size, measured on the backbone's own static size or, when it takes any
    size, as the growth of the output between `PROBE_SIZE` and twice that
    (symbolically, nothing is computed), which ceil-mode pooling and valid
    padding do not disturb.

    Args:
        backbone: a keras-hub `FeaturePyramidBackbone` (`pyramid_outputs`).

    Returns:
        `{name: (stride, channels)}` in the backbone's order.

    Example:
    >>> from keras_segup.backbones import resnet_backbone
    >>> pyramid_strides(resnet_backbone(18))
    {'P2': (4, 64), 'P3': (8, 128), 'P4': (16, 256), 'P5': (32, 512)}
    """
    pyramid = dict(getattr(backbone, "pyramid_outputs", None) or {})
    if not pyramid:
        raise ValueError(
            f"The backbone {type(backbone).__name__} has no `pyramid_outputs`; segmenters need a "
            "keras-hub FeaturePyramidBackbone (ResNet, EfficientNet, MiT, CSPNet, DenseNet, ...) "
            "or one of keras_segup.backbones.PAPER_BACKBONES."
        )
    size = static_image_size(backbone)
    if size is not None:
        shapes = [tuple(output.shape) for output in pyramid.values()]
        return {
            name: (int(round(size[0] / shape[1])), int(shape[-1]))
            for name, shape in zip(pyramid, shapes)
        }
    # the growth between two sizes: immune to ceil-mode pooling and valid padding
    probe = keras.Model(backbone.inputs, list(pyramid.values()))
    small, large = (
        [tuple(spec.shape) for spec in probe.compute_output_spec(keras.KerasTensor((1, side, side, 3)))]
        for side in (PROBE_SIZE, 2 * PROBE_SIZE)
    )
    return {
        name: (int(round(PROBE_SIZE / (big[1] - little[1]))), int(big[-1]))
        for name, little, big in zip(pyramid, small, large)
    }


def _describe(strides):
    return ", ".join(f"{name} (stride {s}, {c} channels)" for name, (s, c) in strides.items())


def choose_levels(backbone, candidates, owner="The head"):
    """Names of the pyramid outputs at the first set of strides the backbone has.

    Args:
        backbone: a keras-hub `FeaturePyramidBackbone`.
        candidates: tuples of strides, finest first, in order of
            preference (FANet: `((8, 16, 32, 64), (4, 8, 16, 32))`).
        owner: who asks, for the error.

    Returns:
        `(names, strides)`: the output names, finest first, and the
        strides chosen. Where several outputs share a stride, the last
        one (the deepest) is taken.

    Raises:
        ValueError: naming the strides wanted and those the backbone has.
    """
    strides = pyramid_strides(backbone)
    by_stride = {}
    for name, (stride, _) in strides.items():
        by_stride[stride] = name  # the deepest output at a stride wins
    for wanted in candidates:
        if all(stride in by_stride for stride in wanted):
            return [by_stride[stride] for stride in wanted], tuple(wanted)
    options = " or ".join(str(tuple(wanted)) for wanted in candidates)
    raise ValueError(
        f"{owner} reads four backbone levels at strides {options}; the "
        f"{type(backbone).__name__} gives {_describe(strides)}. Pass `feature_strides` with four "
        "of its strides, or use a backbone with outputs at those strides."
    )


def pyramid_extractor(backbone, feature_strides=((4, 8, 16, 32), (8, 16, 32, 64)), owner="The head"):
    """A functional model image -> the four levels of a backbone, finest first.

    Args:
        backbone: a keras-hub `FeaturePyramidBackbone`.
        feature_strides: candidate tuples of four strides, in order of
            preference (`choose_levels`); default: 4..32, else FANet's 8..64.
        owner: who asks, for the error.

    Returns:
        `keras.Model` with one input and the four levels as a list; its
        `feature_strides` attribute holds the strides chosen.

    Example:
    >>> from keras_segup.backbones import paper_backbone
    >>> pyramid = pyramid_extractor(paper_backbone("resnet18_fanet"))
    >>> pyramid.feature_strides
    (8, 16, 32, 64)
    """
    names, strides = choose_levels(backbone, feature_strides, owner)
    pyramid = keras.Model(
        backbone.inputs, [backbone.pyramid_outputs[name] for name in names], name="pyramid"
    )
    pyramid.feature_strides = strides
    return pyramid
