"""PASCAL VOC 2012 segmentation (VOCdevkit layout)."""

from keras_segup.data.files import DataError
from keras_segup.data.files import check_pairs
from keras_segup.data.files import require_dir
from keras_segup.data.labels import palette_decoder
from keras_segup.data.pipeline import file_source
from keras_segup.data.pipeline import make_dataset
from keras_segup.datasets_info import VOC_PALETTE
from keras_segup.datasets_info import VOC_VOID_COLOR


def voc_decoder():
    """VOC palette colours -> classes 0..20, the void border colour -> 255."""
    return palette_decoder(VOC_PALETTE, VOC_VOID_COLOR, "VOC palette colours")


def voc(root, split="train", training=None, **kwargs):
    """PASCAL VOC 2012: the ids in `ImageSets/Segmentation/<split>.txt`, images
    `JPEGImages/<id>.jpg`, labels `SegmentationClass/<id>.png` (palette or
    RGB PNGs in the VOC colours; the void colour becomes 255).

    Args:
        root: the `VOC2012` folder.
        split: `"train"`, `"val"` or `"trainval"`.
        training: augment and shuffle; default: `split == "train"`.
        **kwargs: `keras_segup.data.make_dataset` options.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches.
    """
    root = require_dir(root, "dataset root")
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise DataError(f"The split file {listing} is missing; VOC splits are train, val, trainval.")
    ids = listing.read_text().split()
    pairs = [
        (str(root / "JPEGImages" / f"{i}.jpg"), str(root / "SegmentationClass" / f"{i}.png"))
        for i in ids
    ]
    pairs = check_pairs(pairs, f"{listing} lists no ids")
    training = split == "train" if training is None else training
    return make_dataset(*file_source(pairs, voc_decoder()), training, **kwargs)
