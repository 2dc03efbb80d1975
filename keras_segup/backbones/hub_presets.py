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
