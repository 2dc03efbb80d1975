import keras
from keras import ops

from keras_segup.ops import affine_channels


@keras.saving.register_keras_serializable(package="keras_segup")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose float32 inference is one pass, or none.

    The same arguments, weights and results as Keras's layer. At inference
    (no `training`, or a frozen layer) on float32 channels-last inputs
    without a mask, the statistics become one per-channel scale and shift
    (`keras_segup.ops.affine_channels`); after a `keras_segup.layers.Conv2D`
    that folds it (`Conv2D.fold`), the convolution has applied them already
    and this layer passes its input through. Everything else is Keras's
    own call.

    Example:
    >>> BatchNormalization()(keras.ops.ones((1, 4, 4, 8))).shape
    (1, 4, 4, 8)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._folded_by = None  # a weak reference to the Conv2D that folds this layer

    @property
    def folding_conv(self):
        """The `keras_segup.layers.Conv2D` that folds this layer (`Conv2D.fold`), or None."""
        return self._folded_by() if self._folded_by is not None else None

    def runs_as_affine(self, training=None):
        """Whether a call on a float32 (B, H, W, C) map is the per-channel scale and shift."""
        inference = not (training and self.trainable)
        return inference and not self.renorm and self.axis in (-1, 3) and self.compute_dtype == "float32"

    def call(self, inputs, training=None, mask=None):
        conv = self.folding_conv
        if conv is not None and conv.folds_batch_norm(training):
            return inputs  # at inference a mask changes nothing
        channels_last = self.axis in (-1, len(inputs.shape) - 1)
        float32 = keras.backend.standardize_dtype(inputs.dtype) == "float32"
        fast = not (training and self.trainable) and mask is None and not self.renorm and channels_last and float32
        if not fast:
            return super().call(inputs, training=training, mask=mask)
        scale = ops.rsqrt(ops.cast(self.moving_variance, "float32") + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, "float32")
        shift = -ops.cast(self.moving_mean, "float32") * scale
        if self.center:
            shift = shift + ops.cast(self.beta, "float32")
        return affine_channels(inputs, scale, shift)
