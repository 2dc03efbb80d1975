"""Cityscapes in its official layout."""

from keras_segup.data.files import DataError
from keras_segup.data.files import check_pairs
from keras_segup.data.files import pair_by_stem
from keras_segup.data.files import require_dir
from keras_segup.data.labels import cityscapes_decoder
from keras_segup.data.pipeline import file_source
from keras_segup.data.pipeline import make_dataset

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


def cityscapes_pairs(root, split="train"):
    """`(image, labelIds)` paths of one split, checked (sizes, readable files).

    Args:
        root: folder holding `leftImg8bit/` and `gtFine/`.
        split: `"train"`, `"val"` or `"test"`.

    Returns:
        Sorted list of `(image_path, label_path)` strings.
    """
    root = require_dir(root, "dataset root")
    images = require_dir(root / "leftImg8bit" / split, f"Cityscapes images of split {split!r}")
    labels = require_dir(root / "gtFine" / split, f"Cityscapes labels of split {split!r}")
    pairs = []
    for city in sorted(p for p in images.iterdir() if p.is_dir()):
        files = list(city.glob(f"*{IMAGE_SUFFIX}"))
        pairs += pair_by_stem(files, labels / city.name, IMAGE_SUFFIX, LABEL_SUFFIX)
    return check_pairs(pairs, f"no *{IMAGE_SUFFIX} files in {images}/<city>/")


def cityscapes(root, split="train", training=None, **kwargs):
    """Cityscapes (`leftImg8bit/<split>/<city>/*_leftImg8bit.png` with
    `gtFine/<split>/<city>/*_gtFine_labelIds.png`), labelIds mapped to the
    19 trainIds with the official table (everything else 255).

    Args:
        root: the dataset root.
        split: `"train"`, `"val"` or `"test"`.
        training: augment and shuffle; default: `split == "train"`.
        **kwargs: `keras_segup.data.make_dataset` options (`batch_size`,
            `crop_size`, `scale_range`, `flip`, `jitter`, `blur`, `seed`, `cache`).

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches.

    Example:
    ```python
    train = cityscapes("/data/cityscapes", "train", batch_size=8, crop_size=(1024, 1024))
    model.fit(train, epochs=10)
    ```
    """
    if split == "test":
        raise DataError("The Cityscapes test split has no public labels; use 'train' or 'val'.")
    pairs = cityscapes_pairs(root, split)
    training = split == "train" if training is None else training
    return make_dataset(*file_source(pairs, cityscapes_decoder()), training, **kwargs)
