"""The decode-head base class: what every head of keras_segup shares."""

import keras
from keras import ops

from keras_segup.layers.classifier_block import ClassifierBlock
from keras_segup.layers.validation import check_inputs
from keras_segup.layers.validation import check_num_classes
from keras_segup.ops import resize_bilinear


class DecodeHead(keras.layers.Layer):
    """Base of the decode heads (mmsegmentation's `BaseDecodeHead` idea, Keras conventions).

    It owns what the four heads share, so that each head implements only
    its paper's idea:
    - `num_classes` and `dropout` (before every classifier, training only),
      and `classifier_block`, which builds a classifier with them;
    - the input contract: four feature maps `[P2, P3, P4, P5]`, finest
      first, rank 4 with known channels (checked in `build`, which then
      calls the head's `build_head(shapes)` and sets the input spec);
    - `align_corners` of every bilinear resize in the head and of the
      segmenter's final upsampling (`resize`);
    - the output contract: main logits on the grid of input level
      `output_level`, auxiliary logits (`return_aux=True`) on the grids of
      `aux_levels`, with `compute_output_shape`, `aux_output_shapes` and
      `compute_output_spec` derived from them;
    - `get_config` of the shared arguments (subclasses add theirs).

    Subclasses set the class attributes `align_corners`, `output_level` and
    `aux_levels`, and implement `build_head(shapes)` and
    `call(inputs, training=None, return_aux=False)`.

    Args:
        num_classes: number of classes, an int >= 1.
        dropout: channel dropout rate before the classifiers.
        **kwargs: base layer arguments (`name`, `dtype`).
    """

    num_levels = 4
    align_corners = False
    output_level = 0
    aux_levels = ()

    def __init__(self, num_classes, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_num_classes(type(self).__name__, num_classes)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"{type(self).__name__}: `dropout` must be in [0, 1); got {dropout!r}."
            )
        self.num_classes = num_classes
        self.dropout = dropout

    def classifier_block(self, channels, name, **kwargs):
        """A `ClassifierBlock` to `num_classes` with the head's dropout and dtype."""
        kwargs.setdefault("dropout", self.dropout)
        return ClassifierBlock(
            channels, self.num_classes, dtype=self.dtype_policy, name=name, **kwargs
        )

    def resize(self, x, like):
        """Bilinear resize of `x` to the grid of `like`, with the head's `align_corners`."""
        return resize_bilinear(x, ops.shape(like)[1:3], self.align_corners)

    def build(self, input_shape):
        shapes = check_inputs(self, input_shape, self.num_levels)
        self.build_head(shapes)
        self.input_spec = [keras.InputSpec(ndim=4, axes={-1: s[-1]}) for s in shapes]

    def build_head(self, shapes):
        """Builds the head's sublayers for the checked input shapes (a list of tuples)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_head(shapes).")

    def _logits_shape(self, input_shape, level):
        return (*tuple(input_shape[level])[:3], self.num_classes)

    def compute_output_shape(self, input_shape):
        return self._logits_shape(input_shape, self.output_level)

    def aux_output_shapes(self, input_shape):
        """Shapes of the auxiliary logits, one per entry of `aux_levels`."""
        return [self._logits_shape(input_shape, level) for level in self.aux_levels]

    def compute_output_spec(self, inputs, training=None, return_aux=False):
        shapes = [tuple(x.shape) for x in inputs]
        logits = keras.KerasTensor(self.compute_output_shape(shapes), dtype=self.compute_dtype)
        if not return_aux:
            return logits
        aux = [
            keras.KerasTensor(shape, dtype=self.compute_dtype)
            for shape in self.aux_output_shapes(shapes)
        ]
        return [logits, *aux]

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "dropout": self.dropout,
        }
