"""The papers' ImageNet checkpoints (PyTorch) into `PaperResNetBackbone`s."""

import urllib.parse
from pathlib import Path

import keras

from keras_segup.convert.weight_porter import WeightPorter


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the backbone; the message says why."""


def read_checkpoint(checkpoint, sha256=None):
    """A `{key: array}` state_dict from a checkpoint file, URL or mapping.

    Args:
        checkpoint: a mapping (returned as is); a `.pth`/`.pt` file (a
            state_dict, also nested under `state_dict` or `model`; needs
            torch); a `.safetensors` file (needs safetensors); or an
            `http(s)://` URL of one, downloaded into the user cache.
        sha256: checked on download when given.

    Returns:
        The state_dict.

    Raises:
        CheckpointError: for a missing file or one that holds no state_dict.
        ImportError: naming the package to install.
    """
    if hasattr(checkpoint, "items"):
        return checkpoint
    checkpoint = str(checkpoint)
    if urllib.parse.urlparse(checkpoint).scheme in ("http", "https"):
        from keras_segup import presets

        name = Path(urllib.parse.urlparse(checkpoint).path).name or "checkpoint.pth"
        path = presets.cache_dir() / "checkpoints" / name
        if not path.is_file():
            presets.download(checkpoint, path, sha256=sha256)
        checkpoint = str(path)
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"The checkpoint {path} does not exist.")
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise ImportError(f"Reading {path} needs safetensors: pip install safetensors") from None
        return load_file(str(path))
    try:
        import torch
    except ImportError:
        raise ImportError(f"Reading the PyTorch checkpoint {path} needs torch: pip install torch") from None
    try:
        content = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many unrelated types for a bad file
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {error}") from None
    for key in ("state_dict", "model"):
        if isinstance(content, dict) and isinstance(content.get(key), dict):
            content = content[key]
    if not isinstance(content, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, not a state_dict.")
    return content


def load_torch_weights(backbone, checkpoint, sha256=None):
    """Loads a paper's PyTorch ImageNet checkpoint into a `PaperResNetBackbone`.

    Every convolution and batch norm is read from the key its layer is
    named after. The ImageNet classifier (`fc.*`) is ignored; a projection
    shortcut the checkpoint does not hold (FANet's stride-2 layer1, which
    torchvision's ResNets lack) keeps its initialisation. Anything else
    missing, unexpected or of another shape refuses the checkpoint, listing
    the keys, before any weight changes.

    Args:
        backbone: a `keras_segup.backbones.PaperResNetBackbone`.
        checkpoint: see `read_checkpoint`; `module.` prefixes are removed.
        sha256: of a downloaded checkpoint.

    Returns:
        `{"loaded": count, "missing": [keys kept at init], "ignored": [keys]}`.

    Example:
    ```python
    backbone = paper_backbone("resnet50_deep_mg")
    load_torch_weights(backbone, "resnet50-ebb6acbb.pth")
    ```
    """
    state_dict = read_checkpoint(checkpoint, sha256)
    strip = "module." if any(str(k).startswith("module.") for k in state_dict) else ""
    porter = WeightPorter(state_dict, strip)
    ignored = sorted(k for k in porter.state_dict if k.startswith("fc."))
    for key in ignored:
        del porter.state_dict[key]
    kept = []
    for layer in backbone.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization)):
            continue
        prefix = layer.name.replace("_", ".")
        if ".downsample." in prefix and f"{prefix}.weight" not in porter.state_dict:
            kept.append(prefix)
            continue
        if isinstance(layer, keras.layers.Conv2D):
            porter.conv(layer, prefix)
        else:
            porter.bn(layer, prefix)
    try:
        porter.apply(strict=True, target="backbone")
    except ValueError as error:
        raise CheckpointError(f"The checkpoint is not one of a {backbone.name} backbone: {error}") from None
    return {"loaded": len(porter.assignments), "missing": kept, "ignored": ignored}
