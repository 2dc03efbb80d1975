"""The ops of the decoders: gathers, resizing, convolution, pooling, normalisation, attention and row blocks.

Every public function here is channels-last, has one portable
implementation written in `keras.ops` (`keras_segup.ops.reference`, also
the fallback and the test oracle) and, where it pays, one specialised
implementation per backend (`jax_ops`, `torch_ops`, `tensorflow_ops`)
chosen by `keras.backend.backend()` at call time. This package is the only
place in keras_segup that imports a backend framework directly.

The gathers accept `keras.KerasTensor`s (with `None` batch) and then return
symbolic tensors, so they can be used inside functional models.
"""

from keras_segup.ops import reference
from keras_segup.ops.blocks import map_row_blocks
from keras_segup.ops.blocks import unrolled_blocks
from keras_segup.ops.conv import conv2d
from keras_segup.ops.conv import fold_batch_norm
from keras_segup.ops.dispatch import portable
from keras_segup.ops.gathers import extract_windows
from keras_segup.ops.gathers import grid_sample
from keras_segup.ops.gathers import nearest_cell
from keras_segup.ops.gathers import nearest_cell_axis
from keras_segup.ops.normalize import affine_channels
from keras_segup.ops.normalize import l2_normalize
from keras_segup.ops.pool import max_pool2d
from keras_segup.ops.resize import resize_bilinear
from keras_segup.ops.softmax import criss_cross_softmax

__all__ = [
    "affine_channels",
    "conv2d",
    "criss_cross_softmax",
    "extract_windows",
    "fold_batch_norm",
    "grid_sample",
    "l2_normalize",
    "map_row_blocks",
    "max_pool2d",
    "nearest_cell",
    "nearest_cell_axis",
    "portable",
    "reference",
    "resize_bilinear",
    "unrolled_blocks",
]
