"""Preset registry and resolution: built-in names, local folders, URLs, hf://, kaggle://.

The built-in presets are package data, one file per family
(`keras_segup/models/<family>/<family>_presets.json`, measured figures
written by `tools/write_presets.py`): `{name: {"class_name", "config",
"metadata"}}`, where `metadata.dataset` supplies the class names and
palette of the constructor arguments. A saved preset is a folder in
keras-hub's format: `config.json` (the segmenter's class and constructor
arguments), `metadata.json` (parameter count, source, where the weights
come from) and `model.weights.h5` when weights exist. Weights are looked up
in the repository's `weights/<name>/`, then in the user cache
(`$KERAS_SEGUP_HOME`, default `~/.keras/keras_segup`), then downloaded from
the preset's `weights_url`, verified with its sha256 and moved into the
cache atomically: a failed or corrupt download leaves nothing there.
"""

import hashlib
import importlib.resources
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from keras_segup.datasets_info import DATASETS
from keras_segup.utils import compat

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"

HUB_SCHEMES = ("hf", "kaggle")


class PresetError(ValueError):
    """A preset that cannot be found, read or loaded; the message says what to do."""


def _load_builtin_presets():
    """`{name: {"class_name", "config", "metadata"}}` from the families' package data."""
    presets = {}
    for family in sorted(importlib.resources.files("keras_segup.models").iterdir(), key=str):
        if not family.is_dir():
            continue
        for entry in sorted(family.iterdir(), key=str):
            if entry.name.endswith("_presets.json"):
                presets.update(json.loads(entry.read_text()))
    if not presets:
        raise ImportError(
            "keras_segup is installed without its preset files (models/*/*_presets.json); "
            "reinstall it: pip install --force-reinstall keras_segup."
        )
    for preset in presets.values():
        labels = DATASETS[preset["metadata"]["dataset"]]
        preset["config"] = {
            **preset["config"],
            "class_names": list(labels["class_names"]),
            "palette": [list(color) for color in labels["palette"]],
        }
    return presets


BUILTIN_PRESETS = _load_builtin_presets()


def cache_dir():
    """The user cache: `$KERAS_SEGUP_HOME` or `~/.keras/keras_segup`."""
    default = Path.home() / ".keras" / "keras_segup"
    return Path(os.environ.get("KERAS_SEGUP_HOME", default))


def _scheme(handle):
    return urllib.parse.urlparse(str(handle)).scheme


def _hub_preset(handle):
    """A local folder with the config and metadata of a `hf://` or `kaggle://` preset."""
    folder = cache_dir() / f"hub-{hashlib.sha256(handle.encode()).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    for file in (CONFIG_FILE, METADATA_FILE):
        try:
            _copy_atomically(compat.hub_preset_file(handle, file), folder / file)
        except Exception as error:  # the hub clients raise many unrelated types
            raise PresetError(
                f"Could not fetch {file} of preset {handle}: {error}. Check the handle "
                "and the network, or download the preset folder and pass its path."
            ) from None
    metadata = _read_json(folder / METADATA_FILE)
    if not metadata.get("weights_url"):  # weights beside the preset's files
        try:
            weights = compat.hub_preset_file(handle, WEIGHTS_FILE)
        except Exception:  # a preset without weights: architecture only
            weights = None
        if weights:
            _copy_atomically(weights, folder / WEIGHTS_FILE)
    return folder


def _copy_atomically(source, destination):
    """Copies to a temporary file beside `destination`, then moves it into place."""
    handle, temporary = tempfile.mkstemp(dir=Path(destination).parent, suffix=".part")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PresetError(f"The preset file {path} is missing.") from None
    except json.JSONDecodeError as error:
        raise PresetError(f"The preset file {path} is not valid JSON: {error}.") from None


def resolve(handle):
    """Config, metadata and a local weights path (or None) for a preset handle.

    Args:
        handle: a built-in preset name, a local preset folder, an
            `http(s)://`/`file://` URL of a preset folder, or a keras-hub
            style `hf://owner/name` or `kaggle://owner/model/keras/variant`.

    Returns:
        `(name, config, metadata, weights_path_or_None)`; config is
        `{"class_name": ..., "config": {...}}`.
    """
    handle = str(handle)
    if handle in BUILTIN_PRESETS:
        preset = BUILTIN_PRESETS[handle]
        config = {"class_name": preset["class_name"], "config": preset["config"]}
        local = WEIGHTS_DIR / handle / WEIGHTS_FILE
        return handle, config, preset["metadata"], local if local.is_file() else None
    if _scheme(handle) in HUB_SCHEMES:
        handle = str(_hub_preset(handle))
    elif _scheme(handle) in ("http", "https", "file"):
        url = handle.rstrip("/")
        last = Path(urllib.parse.urlparse(url).path).name or "preset"
        folder = cache_dir() / f"{last}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
        for file in (CONFIG_FILE, METADATA_FILE):
            download(f"{url}/{file}", folder / file)
        metadata = _read_json(folder / METADATA_FILE)
        if not metadata.get("weights_url"):  # weights beside the preset's files
            metadata["weights_url"] = f"{url}/{WEIGHTS_FILE}"
            (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        handle = str(folder)
    folder = Path(handle)
    if folder.is_dir():
        config = _read_json(folder / CONFIG_FILE)
        if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or not isinstance(
            config.get("config"), dict
        ):
            raise PresetError(
                f"The preset file {folder / CONFIG_FILE} must hold an object with \"class_name\" (e.g. "
                "\"FANetSegmenter\") and \"config\" (its constructor arguments); write presets with "
                "Segmenter.save_to_preset."
            )
        metadata = _read_json(folder / METADATA_FILE)
        local = folder / WEIGHTS_FILE
        return folder.name, config, metadata, local if local.is_file() else None
    raise PresetError(
        f"Unknown preset {handle!r}. Built-in presets: {', '.join(sorted(BUILTIN_PRESETS))}; "
        "or pass a preset folder, an http(s):// / file:// URL of one, or an hf:// or "
        "kaggle:// handle."
    )


def weights_for(name, metadata, local_path):
    """A local weights file for the preset: repository, cache, or download.

    Raises:
        PresetError: when no weights can be had, saying what to do instead.
    """
    if local_path is not None:
        return local_path
    cached = cache_dir() / name / WEIGHTS_FILE
    if cached.is_file():
        return cached
    url = metadata.get("weights_url")
    if not url:
        raise PresetError(
            f"No weights are available for preset {name!r} (none in {WEIGHTS_DIR / name}, "
            f"none in the cache {cached.parent}, and the preset names no weights_url). "
            "Use load_weights=False for a randomly initialised model to train, train "
            "it, or convert official weights with keras_segup.convert."
        )
    download(url, cached, sha256=metadata.get("weights_sha256"))
    return cached


def _digest_matches(digest, expected):
    """`expected` is the full sha256 or a prefix of at least 8 hex digits (torch.hub's file names)."""
    expected = expected.lower()
    return digest == expected if len(expected) == 64 else len(expected) >= 8 and digest.startswith(expected)


def download(url, destination, sha256=None):
    """Downloads `url` to `destination` atomically, with a progress bar.

    The file is written to a temporary file beside the destination and
    moved into place only when complete and, if `sha256` is given (the
    digest, or a prefix of at least 8 hex digits), verified.

    Raises:
        PresetError: on HTTP errors, truncated transfers or a wrong sha256;
            nothing is left at `destination` then.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {destination.name}",
                      disable=total is not None and total < 1 << 20) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise PresetError(
                f"Download of {url} was truncated: {received} of {total} bytes. Try again."
            )
        if sha256 and not _digest_matches(digest.hexdigest(), sha256):
            raise PresetError(
                f"The file downloaded from {url} is corrupt: sha256 {digest.hexdigest()} "
                f"instead of {sha256}. Nothing was kept; try again or check the URL."
            )
        os.replace(temporary, destination)
    except (urllib.error.URLError, OSError) as error:
        raise PresetError(f"Could not download {url}: {error}.") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return destination


def write_preset(folder, config, metadata, model=None):
    """Writes config.json, metadata.json and, with `model`, model.weights.h5.

    The weights go to a temporary folder first and are moved into place
    when complete.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    if model is not None:
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            temporary = Path(scratch) / WEIGHTS_FILE
            model.save_weights(str(temporary))
            os.replace(temporary, folder / WEIGHTS_FILE)
    return folder


def list_presets():
    """Prints the built-in presets: class, classes, parameters, GFLOPs, weights.

    GFLOPs (2 per multiply-add) are at the dataset's usual input: 1024x2048
    for Cityscapes, 512x512 for ADE20K. "weights" says where the weights are
    found: the repository's `weights/`, the user cache, a download URL, or
    none yet.

    Returns:
        The rows printed, as dicts.
    """
    rows = []
    for name, preset in sorted(BUILTIN_PRESETS.items()):
        metadata = preset["metadata"]
        if (WEIGHTS_DIR / name / WEIGHTS_FILE).is_file():
            weights = "repository"
        elif (cache_dir() / name / WEIGHTS_FILE).is_file():
            weights = "cache"
        else:
            weights = "download" if metadata.get("weights_url") else "none"
        rows.append({
            "name": name,
            "class": preset["class_name"],
            "classes": len(preset["config"]["class_names"]),
            "parameters": metadata.get("parameter_count"),
            "gflops": metadata.get("gflops"),
            "input": "x".join(map(str, metadata.get("gflops_input", []))),
            "weights": weights,
        })
    print(f"{'preset':<22} {'class':<15} {'classes':>7} {'params':>8} {'GFLOPs':>8} {'at':>10}  weights")
    for row in rows:
        params = f"{row['parameters'] / 1e6:.2f}M" if row["parameters"] else "?"
        gflops = f"{row['gflops']:.1f}" if row["gflops"] else "?"
        print(f"{row['name']:<22} {row['class']:<15} {row['classes']:>7} {params:>8} {gflops:>8} "
              f"{row['input']:>10}  {row['weights']}")
    return rows
