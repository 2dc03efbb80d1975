import warnings

import keras
from keras import ops

from keras_segup.layers.conv_bn_act import ConvBNAct


@keras.saving.register_keras_serializable(package="keras_segup")
class GlobalContext(keras.layers.Layer):
    """Global-average context added to every position, then a 3x3 ConvBNReLU.

    GAI's context block on P5: `conv3x3(x + conv1x1(mean_hw(x)))`.

    Train with at least 2 images per batch (per device): the 1x1 conv's
    batch normalisation sees one value per channel and image, so a batch of
    one has zero variance, and the moving statistics it leaves make
    inference unstable (PyTorch refuses such a batch outright). Crop one
    large frame into several images instead.

    Args:
        channels: channels of the input and output.
        **kwargs: base layer arguments.

    Example:
    >>> GlobalContext(128)(keras.ops.ones((1, 9, 13, 128))).shape
    (1, 9, 13, 128)
    """

    def __init__(self, channels=128, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.pool_conv = ConvBNAct(channels, 1, dtype=self.dtype_policy, name="conv1")
        self.fuse_conv = ConvBNAct(channels, 3, dtype=self.dtype_policy, name="conv2")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != self.channels:
            raise ValueError(
                f"GlobalContext expects (batch, height, width, {self.channels}); "
                f"got shape {tuple(input_shape)}."
            )
        self.pool_conv.build((input_shape[0], 1, 1, self.channels))
        self.fuse_conv.build(input_shape)

    def call(self, inputs, training=None):
        if training and inputs.shape[0] == 1:
            warnings.warn(
                f"{self.name}: training with 1 image per batch leaves unusable batch-norm "
                "statistics in the global context branch; use batches of 2 or more "
                "(crop large frames into several images).",
                stacklevel=2,
            )
        pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
        context = self.pool_conv(pooled, training=training)
        return self.fuse_conv(inputs + context, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
