"""The layer of FANet (Hu et al.): fast attention, linear in the pixel count."""

import keras
from keras import ops

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.validation import check_feature_map
from keras_segup.ops import l2_normalize


@keras.saving.register_keras_serializable(package="keras_segup")
class FastAttention(keras.layers.Layer):
    """FANet's fast attention: self-attention at a cost linear in the pixels.

    Q and K are 1x1 ConvBN projections to `key_channels` (no activation),
    L2-normalised over channels at each position; V is a 1x1 ConvBN +
    LeakyReLU(0.01) keeping the channels. With cosine similarity in place
    of softmax the product can be reordered:

        y = Q (K^T V)        # (N x d)(d x C): O(N d C), not O(N^2)

    with no 1/N factor; then an output ConvBN + LeakyReLU projection and a
    residual connection: `out = x + proj(y)`. Under mixed precision the
    attention and the output projection run in float32: `y` sums over every
    pixel and overflows float16 at Cityscapes sizes.

    Args:
        key_channels: channels of Q and K (FANet: 32).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: (B, H, W, C).

    Returns:
        (B, H, W, C).

    Example:
    >>> FastAttention(32)(keras.ops.ones((2, 16, 32, 128))).shape
    (2, 16, 32, 128)
    """

    def __init__(self, key_channels=32, **kwargs):
        super().__init__(**kwargs)
        self.key_channels = key_channels
        dtype = self.dtype_policy
        self.query = ConvBNAct(key_channels, 1, activation=None, dtype=dtype, name="query")
        self.key = ConvBNAct(key_channels, 1, activation=None, dtype=dtype, name="key")
        self.value = None
        self.projection = None

    def build(self, input_shape):
        channels = check_feature_map(self, input_shape)[-1]
        dtype = self.dtype_policy
        self.value = ConvBNAct(channels, 1, activation="leaky_relu", dtype=dtype, name="value")
        # Q (K^T V) grows with the pixel count (no 1/N factor): at Cityscapes
        # sizes it exceeds float16's range, so the projection and its batch
        # norm always run in float32
        self.projection = ConvBNAct(
            channels, 1, activation="leaky_relu", dtype="float32", name="projection"
        )
        for block in (self.query, self.key, self.value, self.projection):
            block.build(input_shape)
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs, training=None):
        query = l2_normalize(ops.cast(self.query(inputs, training=training), "float32"))
        key = l2_normalize(ops.cast(self.key(inputs, training=training), "float32"))
        value = ops.cast(self.value(inputs, training=training), "float32")
        context = ops.einsum("bhwd,bhwc->bdc", key, value)
        attended = ops.einsum("bhwd,bdc->bhwc", query, context)
        projected = self.projection(attended, training=training)
        return inputs + ops.cast(projected, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "key_channels": self.key_channels}
