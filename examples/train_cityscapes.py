"""Trains a segmenter on Cityscapes with its paper's recipe, on whichever KERAS_BACKEND is set.

    KERAS_BACKEND=jax python examples/train_cityscapes.py /data/cityscapes gai_cityscapes [CHECKPOINT] [BATCH]

The library calls behind `keras-segup train` (which has every option:
`keras-segup train --help`): the preset's architecture, its paper's ImageNet
backbone checkpoint (CHECKPOINT: a path or URL, see the preset's
`metadata["backbone_checkpoint"]`), its paper's training recipe
(`keras_segup.recipes.preset_recipe`: crop, batch, schedule, optimizer,
loss, augmentation), scaled to the global batch BATCH by the linear rule,
the Cityscapes pipeline, and `keras_segup.training.train`, which writes
`runs/<preset>/last.keras`, a row of `log.csv` per epoch and the resume
state: run the same command again after an interruption and training
continues from the last finished epoch.
"""

import sys

import keras_segup
from keras_segup.models import Segmenter
from keras_segup.recipes import preset_recipe


def main(root, preset="gai_cityscapes", checkpoint=None, batch_size=None):
    recipe = preset_recipe(preset)
    if batch_size:
        recipe = recipe.scaled_to(int(batch_size))
    print(recipe.describe())
    def train_data(start_step):  # a seekable stream: an interrupted run resumes on the same batches
        return keras_segup.data.cityscapes(root, "train", **recipe.data_options(), seed=0, start_step=start_step)

    val_data = keras_segup.data.cityscapes(root, "val")
    model, _ = keras_segup.training.train(
        lambda: Segmenter.from_preset(preset, load_weights=False, backbone_weights=checkpoint),
        train_data,
        output_dir=f"runs/{preset}",
        val_data=val_data,
        recipe=recipe,
    )
    print(f"Saved runs/{preset}/final.keras; per-epoch log in runs/{preset}/log.csv")
    keras_segup.evaluate(model, keras_segup.data.cityscapes(root, "val"), **recipe.evaluation_options())
    return model


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3, 4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
