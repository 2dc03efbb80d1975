"""ADE20K (SceneParsing, ADEChallengeData2016 layout)."""

from keras_segup.data.files import check_pairs
from keras_segup.data.files import pair_by_stem
from keras_segup.data.files import require_dir
from keras_segup.data.labels import ade20k_decoder
from keras_segup.data.pipeline import file_source
from keras_segup.data.pipeline import make_dataset

SPLITS = {"train": "training", "val": "validation"}


def ade20k(root, split="train", training=None, **kwargs):
    """ADE20K: `images/<training|validation>/*.jpg` with
    `annotations/<training|validation>/*.png`; label 0 ("other") becomes
    255 and 1..150 become 0..149.

    Args:
        root: the `ADEChallengeData2016` folder.
        split: `"train"` or `"val"` (or the folder names themselves).
        training: augment and shuffle; default: `split == "train"`.
        **kwargs: `keras_segup.data.make_dataset` options.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches.
    """
    folder = SPLITS.get(split, split)
    root = require_dir(root, "dataset root")
    images = require_dir(root / "images" / folder, f"ADE20K images of split {split!r}")
    labels = require_dir(root / "annotations" / folder, f"ADE20K labels of split {split!r}")
    pairs = pair_by_stem(images.glob("*.jpg"), labels, ".jpg", ".png")
    pairs = check_pairs(pairs, f"no *.jpg files in {images}")
    training = folder == "training" if training is None else training
    return make_dataset(*file_source(pairs, ade20k_decoder()), training, **kwargs)
