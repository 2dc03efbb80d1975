"""The papers' ImageNet checkpoints (PyTorch) into `PaperResNetBackbone`s."""

import hashlib
import shutil
import urllib.parse
import zipfile
from pathlib import Path

import keras

from keras_segup.convert.weight_porter import WeightPorter
from keras_segup.utils.atomic import write_atomically


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the backbone; the message says why."""


CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors", ".zip", ".bin")


def check_local_checkpoint(checkpoint):
    """Refuses, before any work, a local checkpoint path that does not exist.

    A string with no URL scheme that names a file by a checkpoint suffix
    (`.pth`, `.pt`, `.safetensors`, `.zip`, `.bin`) or a folder by a path
    separator must exist; keras-hub preset names, `"paper"`, URLs and
    state_dicts are left to the loaders.

    Args:
        checkpoint: what `backbone_weights` was given.

    Raises:
        CheckpointError: naming the missing path.

    Example:
    >>> check_local_checkpoint("efficientnet_b0_ra_imagenet")  # a keras-hub name: left to the loader
    >>> check_local_checkpoint("weights/absent.pth")
    Traceback (most recent call last):
    ...
    keras_segup.backbones.checkpoints.CheckpointError: The checkpoint weights/absent.pth does not exist.
    """
    if not isinstance(checkpoint, (str, Path)) or str(checkpoint) == "paper":
        return
    text = str(checkpoint)
    if len(urllib.parse.urlparse(text).scheme) > 1:  # a URL or handle (a drive letter is one letter)
        return
    path = Path(text)
    if (path.suffix in CHECKPOINT_SUFFIXES or "/" in text or "\\" in text) and not path.exists():
        raise CheckpointError(f"The checkpoint {path} does not exist.")


def read_checkpoint(checkpoint, sha256=None):
    """A `{key: array}` state_dict from a checkpoint file, URL, Hub handle or mapping.

    Args:
        checkpoint: a mapping (returned as is); a `.pth`/`.pt` file (a
            state_dict, also nested under `state_dict` or `model`; needs
            torch); a `.safetensors` file (needs safetensors); a `.zip`
            archive holding one of those (PyTorch-Encoding publishes its
            ResNets so); an `http(s)://` URL of any of them, downloaded into
            the user cache; or `hf://owner/repo[/file]` (default file
            `model.safetensors`, as timm publishes), fetched by
            huggingface_hub into its cache.
        sha256: checked on download when given: the full digest, or a
            prefix of at least 8 hex digits (torchvision names its files
            with one).

    Returns:
        The state_dict.

    Raises:
        CheckpointError: for a missing file, a web page instead of a file,
            or one that holds no state_dict; a downloaded file that cannot
            be read is removed from the cache.
        ImportError: naming the package to install.
    """
    if hasattr(checkpoint, "items"):
        return checkpoint
    checkpoint = str(checkpoint)
    scheme = urllib.parse.urlparse(checkpoint).scheme
    downloaded = None
    if scheme == "hf":
        path = _hub_download(checkpoint)
    elif scheme in ("http", "https"):
        path = _url_download(checkpoint, sha256)
        downloaded = path
    else:
        path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"The checkpoint {path} does not exist.")
    try:
        if path.suffix == ".zip":
            path = _unpack(path)
        return _read_file(path)
    except CheckpointError:
        if downloaded is not None:  # the next attempt downloads afresh
            for leftover in (downloaded, path):
                leftover.unlink(missing_ok=True)
        raise


def _url_download(url, sha256):
    from keras_segup import presets

    parsed = urllib.parse.urlparse(url)
    name = Path(parsed.path).name or "checkpoint.pth"
    if parsed.query:  # e.g. a Google Drive link: name it after the whole URL
        name = f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:12]}.pth"
    path = presets.cache_dir() / "checkpoints" / name
    if not path.is_file():
        try:
            presets.download(url, path, sha256=sha256)
        except presets.PresetError as error:
            raise CheckpointError(str(error)) from None
        with open(path, "rb") as handle:
            start = handle.read(512).lstrip().lower()
        if start.startswith((b"<!doctype", b"<html")):
            path.unlink()
            raise CheckpointError(
                f"{url} answered with a web page, not a checkpoint (Google Drive asks to confirm "
                "large downloads this way). Download the file in a browser and pass its path."
            )
    return path


def _hub_download(handle):
    parts = urllib.parse.urlparse(handle)
    pieces = [parts.netloc, *[piece for piece in parts.path.split("/") if piece]]
    if len(pieces) < 2:
        raise CheckpointError(f"A Hugging Face handle is hf://owner/repo[/file]; got {handle!r}.")
    repo, filename = "/".join(pieces[:2]), "/".join(pieces[2:]) or "model.safetensors"
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ImportError(f"Fetching {handle} needs huggingface_hub: pip install huggingface_hub") from None
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename))
    except Exception as error:  # huggingface_hub raises its own HTTP and offline error types
        raise CheckpointError(f"Could not fetch {filename} of {repo} from the Hugging Face Hub: {error}") from None


def _unpack(archive):
    """The one checkpoint inside a `.zip` archive, extracted beside it."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.namelist() if m.endswith((".pth", ".pt", ".safetensors"))]
            if len(members) != 1:
                raise CheckpointError(
                    f"{archive} holds {len(members)} checkpoint files ({members}); expected one. "
                    "Unpack it and pass the file."
                )
            target = archive.parent / Path(members[0]).name
            if not target.is_file():
                write_atomically(target, lambda temporary: _extract(bundle, members[0], temporary))
    except zipfile.BadZipFile as error:
        raise CheckpointError(f"{archive} is not a readable zip archive: {error}") from None
    return target


def _extract(bundle, member, path):
    with bundle.open(member) as source, open(path, "wb") as out:
        shutil.copyfileobj(source, out)


def _read_file(path):
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise ImportError(f"Reading {path} needs safetensors: pip install safetensors") from None
        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error type
            raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from None
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
