"""keras-hub backbones by preset name or folder."""

import keras_hub


def backbone_from_preset(handle):
    """A keras-hub backbone from a preset name (`"resnet_50_imagenet"`) or folder.

    Names are downloaded by keras-hub (Kaggle / Hugging Face) and cached;
    a folder written by `backbone.save_to_preset(folder)` loads offline.

    Args:
        handle: a keras-hub preset name, folder or `kaggle://`/`hf://` handle.

    Returns:
        The `keras_hub.models.Backbone`.

    Example:
    ```python
    model = IFASegmenter(19, backbone=backbone_from_preset("resnet_vd_50_imagenet"))
    ```
    """
    try:
        return keras_hub.models.Backbone.from_preset(handle)
    except Exception as error:  # keras-hub raises many types: network, format, name
        raise ValueError(
            f"Could not load the keras-hub backbone preset {handle!r}: {error}. Use a keras-hub "
            "preset name (needs the network once), a folder saved with "
            "`backbone.save_to_preset(folder)`, or one of 'resnet18', 'resnet34', 'resnet50', "
            "'resnet101'."
        ) from None


def load_hub_weights(backbone, handle):
    """Copies the weights of a keras-hub backbone preset into `backbone`, which must match it.

    For segmenter presets on keras-hub backbones (their architecture is
    stored, their ImageNet weights come from keras-hub): the preset is
    loaded (`backbone_from_preset`), its class and every weight shape are
    checked against `backbone` before anything changes, then the weights
    are copied in order.

    Args:
        backbone: the keras-hub backbone to fill.
        handle: a keras-hub preset name, folder or `kaggle://`/`hf://` handle.

    Returns:
        dict: `loaded` (number of tensors) and `source` (the handle).

    Example:
    ```python
    load_hub_weights(model.backbone, "efficientnet_lite0_ra_imagenet")
    ```
    """
    source = backbone_from_preset(handle)
    if type(source) is not type(backbone):
        raise ValueError(
            f"The keras-hub preset {handle!r} is a {type(source).__name__}; this backbone is a "
            f"{type(backbone).__name__}. Pass a {type(backbone).__name__} preset."
        )
    theirs, ours = source.weights, backbone.weights
    mismatched = [
        f"{mine.path} {tuple(mine.shape)} vs {tuple(other.shape)}"
        for mine, other in zip(ours, theirs)
        if tuple(mine.shape) != tuple(other.shape)
    ]
    if len(theirs) != len(ours) or mismatched:
        raise ValueError(
            f"The keras-hub preset {handle!r} has another architecture than this backbone "
            f"({len(theirs)} weights against {len(ours)}; mismatched: {mismatched[:3] or 'none'}). "
            "Build the segmenter with that preset's backbone (backbone=handle) instead."
        )
    for mine, other in zip(ours, theirs):
        mine.assign(other.numpy())
    return {"loaded": len(ours), "source": str(handle)}
