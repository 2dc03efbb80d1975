"""Trains a segmenter on Cityscapes with `model.fit`, on whichever KERAS_BACKEND is set.

    KERAS_BACKEND=jax python examples/train_cityscapes.py /data/cityscapes fanet_r18_cityscapes

The library calls behind `keras-segup train` (which has every option:
`keras-segup train --help`): the preset's architecture and training recipe
(`metadata["recipe"]`: epochs, batch size, crop, learning rate), the
Cityscapes pipeline, and `keras_segup.training.train`, which writes
`runs/<preset>/last.keras`, a row of `log.csv` per epoch and the resume
state: run the same command again after an interruption and training
continues from the last finished epoch.
"""

import sys

import keras_segup
from keras_segup.models import Segmenter


def main(root, preset="fanet_r18_cityscapes"):
    recipe = Segmenter.presets[preset]["recipe"]
    train_data = keras_segup.data.cityscapes(
        root, "train", batch_size=recipe["batch_size"], crop_size=tuple(recipe["crop_size"])
    )
    val_data = keras_segup.data.cityscapes(root, "val")
    model, _ = keras_segup.training.train(
        lambda: Segmenter.from_preset(preset, load_weights=False),
        train_data,
        epochs=recipe["epochs"],
        output_dir=f"runs/{preset}",
        val_data=val_data,
        learning_rate=recipe["learning_rate"],
    )
    print(f"Saved runs/{preset}/final.keras; per-epoch log in runs/{preset}/log.csv")
    return model


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
