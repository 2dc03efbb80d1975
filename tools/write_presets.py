"""Writes the measured figures of every built-in preset into its family's presets file.

Usage: KERAS_BACKEND=jax python tools/write_presets.py [NAME ...]  (default: every preset)

Builds each preset's model (random weights; nothing is downloaded) and
writes its parameter count and its GFLOPs (XLA's cost analysis under JAX,
2 per multiply-add) at the dataset's usual input, 1024x2048 for Cityscapes
and 512x512 for ADE20K, into `keras_segup/models/<family>/<family>_presets.json`
(the package data `from_preset` and `keras-segup presets` read). Every
other field of those files is written by hand.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")  # the FLOP count needs XLA's cost analysis

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_segup.models import Segmenter  # noqa: E402
from keras_segup.utils.profiling import jax_flops  # noqa: E402

INPUT_SIZES = {"cityscapes": (1024, 2048), "ade20k": (512, 512)}
MODELS_DIR = Path(__file__).resolve().parents[1] / "keras_segup" / "models"


def measure(name, dataset):
    """(parameter count, GFLOPs, input size) of a preset."""
    model = Segmenter.from_preset(name, load_weights=False)
    model.build((None, None, None, 3))
    size = INPUT_SIZES[dataset]
    image = np.zeros((1, *size, 3), "float32")
    figures = int(model.count_params()), round(jax_flops(model, [image]) / 1e9, 1), list(size)
    keras.backend.clear_session()
    return figures


def main(names):
    for path in sorted(MODELS_DIR.glob("*/*_presets.json")):
        presets = json.loads(path.read_text())
        for name, preset in presets.items():
            if names and name not in names:
                continue
            metadata = preset["metadata"]
            params, gflops, size = measure(name, metadata["dataset"])
            metadata.update(parameter_count=params, gflops=gflops, gflops_input=size)
            print(f"{name:<22} {params / 1e6:7.2f}M parameters, {gflops:7.1f} GFLOPs at "
                  f"{size[0]}x{size[1]}")
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(presets, indent=2) + "\n")
        os.replace(temporary, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(set(sys.argv[1:]))
