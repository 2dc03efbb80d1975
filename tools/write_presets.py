"""Writes weights/<name>/config.json and metadata.json for every built-in preset.

Usage: KERAS_BACKEND=jax python tools/write_presets.py

Builds each preset's model (random weights; nothing is downloaded) to put
its parameter count in metadata.json. Weights files (model.weights.h5) are
added to a folder only when trained or converted weights exist.
"""

import keras

from keras_segup import presets
from keras_segup.models import Segmenter


def main():
    for name in sorted(presets.BUILTIN_PRESETS):
        preset = presets.BUILTIN_PRESETS[name]
        model = Segmenter.from_preset(name, load_weights=False)
        model.build((None, None, None, 3))
        metadata = {**preset["metadata"], "parameter_count": int(model.count_params())}
        config = {"class_name": preset["class_name"], "config": preset["config"]}
        presets.write_preset(presets.WEIGHTS_DIR / name, config, metadata)
        print(f"{name:<22} {metadata['parameter_count'] / 1e6:7.2f}M parameters")
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
