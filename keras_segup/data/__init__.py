"""tf.data pipelines for segmentation datasets.

Every function returns a `tf.data.Dataset` of `(images, labels)` batches:
images float32 (B, H, W, 3) in 0..255, labels int32 (B, H, W) in training
ids with 255 for ignored pixels, ready for `Segmenter.fit` on any backend.
Files are checked before the pipeline starts (missing labels, size
mismatches, corrupt or truncated files), and label values the dataset does
not define stop the pipeline; every error names the file.
"""

from keras_segup.utils.compat import require_tensorflow

require_tensorflow("keras_segup.data (tf.data pipelines)")

from keras_segup.data.ade20k import ade20k  # noqa: E402
from keras_segup.data.cityscapes import cityscapes  # noqa: E402
from keras_segup.data.files import DataError  # noqa: E402
from keras_segup.data.folder import folder  # noqa: E402
from keras_segup.data.pipeline import make_dataset  # noqa: E402
from keras_segup.data.synthetic import scene  # noqa: E402
from keras_segup.data.synthetic import synthetic  # noqa: E402
from keras_segup.data.synthetic import write_cityscapes_layout  # noqa: E402
from keras_segup.data.transforms import augment  # noqa: E402
from keras_segup.data.voc import voc  # noqa: E402

__all__ = [
    "DataError",
    "ade20k",
    "augment",
    "cityscapes",
    "folder",
    "make_dataset",
    "scene",
    "synthetic",
    "voc",
    "write_cityscapes_layout",
]
