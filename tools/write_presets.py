"""Writes weights/<name>/config.json and metadata.json for every built-in preset.

Usage: KERAS_BACKEND=jax python tools/write_presets.py

Builds each preset's model (random weights; nothing is downloaded) to put
its parameter count and its GFLOPs (XLA's cost analysis under JAX, 2 per
multiply-add) at the dataset's usual input, 1024x2048 for Cityscapes and
512x512 for ADE20K, in metadata.json. Weights files (model.weights.h5) are
added to a folder only when trained or converted weights exist.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # the FLOP count needs XLA's cost analysis

import keras  # noqa: E402
import numpy as np  # noqa: E402
from benchmark import jax_flops  # noqa: E402

from keras_segup import presets  # noqa: E402
from keras_segup.models import Segmenter  # noqa: E402

INPUT_SIZES = {"cityscapes": (1024, 2048), "ade20k": (512, 512)}


def main():
    for name in sorted(presets.BUILTIN_PRESETS):
        preset = presets.BUILTIN_PRESETS[name]
        model = Segmenter.from_preset(name, load_weights=False)
        model.build((None, None, None, 3))
        size = INPUT_SIZES[preset["metadata"]["dataset"]]
        image = np.zeros((1, *size, 3), "float32")
        metadata = {
            **preset["metadata"],
            "parameter_count": int(model.count_params()),
            "gflops": round(jax_flops(model, [image]) / 1e9, 1),
            "gflops_input": list(size),
        }
        config = {"class_name": preset["class_name"], "config": preset["config"]}
        presets.write_preset(presets.WEIGHTS_DIR / name, config, metadata)
        print(f"{name:<22} {metadata['parameter_count'] / 1e6:7.2f}M parameters, "
              f"{metadata['gflops']:7.1f} GFLOPs at {size[0]}x{size[1]}")
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
