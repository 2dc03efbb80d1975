"""Any pair of image and label folders."""

from keras_segup.data.files import DataError
from keras_segup.data.files import check_pairs
from keras_segup.data.files import pair_by_stem
from keras_segup.data.files import require_dir
from keras_segup.data.labels import index_decoder
from keras_segup.data.labels import palette_decoder
from keras_segup.data.pipeline import file_source
from keras_segup.data.pipeline import make_dataset


def folder(
    images,
    labels,
    num_classes=None,
    palette=None,
    void_color=None,
    image_suffix=".png",
    label_suffix=".png",
    training=False,
    **kwargs,
):
    """Pairs `images/<stem><image_suffix>` with `labels/<stem><label_suffix>`.

    Labels are either index PNGs holding 0..num_classes-1 (255 ignored),
    or colour PNGs decoded with `palette` (one RGB colour per class;
    `void_color` pixels become 255).

    Args:
        images: folder of the images (PNG or JPEG).
        labels: folder of the label PNGs (may be the same folder).
        num_classes: for index labels.
        palette: for colour labels, instead of `num_classes`.
        void_color: colour of ignored pixels, with `palette`.
        image_suffix, label_suffix: file name endings that pair them.
        training: augment and shuffle.
        **kwargs: `keras_segup.data.make_dataset` options.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches.

    Example:
    ```python
    from keras_segup.datasets_info import VOC_PALETTE, VOC_VOID_COLOR
    data = folder("voc", "voc", palette=VOC_PALETTE, void_color=VOC_VOID_COLOR,
                  image_suffix="_image.png", label_suffix="_target.png")
    ```
    """
    if (num_classes is None) == (palette is None):
        raise DataError("Pass exactly one of `num_classes` (index labels) or `palette` (colour labels).")
    image_dir = require_dir(images, "image")
    files = list(image_dir.glob(f"*{image_suffix}"))
    if image_suffix == label_suffix and require_dir(labels, "label") == image_dir:
        raise DataError("Images and labels in one folder need different suffixes.")
    pairs = pair_by_stem(files, require_dir(labels, "label"), image_suffix, label_suffix)
    pairs = check_pairs(pairs, f"no *{image_suffix} files in {image_dir}")
    if palette is not None:
        decode = palette_decoder(palette, void_color)
    else:
        decode = index_decoder(num_classes)
    return make_dataset(*file_source(pairs, decode), training, **kwargs)
