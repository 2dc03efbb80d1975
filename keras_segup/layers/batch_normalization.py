import keras
from keras import ops

from keras_segup.ops import affine_channels


@keras.saving.register_keras_serializable(package="keras_segup")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose float32 inference is one pass.

    The same arguments, weights and results as Keras's layer. At inference
    (no `training`, or a frozen layer) on float32 channels-last inputs
    without a mask, the statistics become one per-channel scale and shift
    (`keras_segup.ops.affine_channels`); everything else is Keras's own call.

    Example:
    >>> BatchNormalization()(keras.ops.ones((1, 4, 4, 8))).shape
    (1, 4, 4, 8)
    """

    def call(self, inputs, training=None, mask=None):
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
