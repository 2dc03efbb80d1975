import keras
from keras import ops

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.criss_cross_attention import CrissCrossAttention
from keras_segup.layers.resizing import resize_bilinear
from keras_segup.layers.validation import check_inputs


@keras.saving.register_keras_serializable(package="keras_segup")
class CrossLayerAttention(keras.layers.Layer):
    """Guided Attentive Interpolation (GAI): upsample a coarse map, guided by a fine one.

    The coarse `high` map is resized (bilinear, half-pixel) to the grid of
    the fine guide `low`; a query is computed from both
    (`conv1([high_up, low])`), values from the coarse map alone
    (`conv2(high_up)`), and two criss-cross attention passes with shared
    weights and the same query let every fine pixel gather semantics along
    its row and column. A bottleneck fuses the attended values with
    `high_up`:

        out = ConvBNReLU([cca(cca(v)), high_up])

    Args:
        channels: output channels; the attention runs at `channels // 2`
            with keys of `channels // 16` (GAI: 128, 64, 8).
        num_passes: criss-cross passes (2: every pixel reaches every other).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[low, high]`, (B, H, W, Cl) guide and (B, h, w, Ch) coarse map.

    Returns:
        (B, H, W, channels).

    Example:
    >>> gai = CrossLayerAttention(128)
    >>> low, high = keras.ops.ones((1, 33, 49, 128)), keras.ops.ones((1, 9, 13, 128))
    >>> gai([low, high]).shape
    (1, 33, 49, 128)
    """

    def __init__(self, channels=128, num_passes=2, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.num_passes = num_passes
        inner = channels // 2
        self.query_conv = keras.layers.Conv2D(inner, 1, dtype=self.dtype_policy, name="conv1")
        self.value_conv = keras.layers.Conv2D(inner, 1, dtype=self.dtype_policy, name="conv2")
        self.attention = CrissCrossAttention(
            max(channels // 16, 1), dtype=self.dtype_policy, name="attention"
        )
        self.bottleneck = ConvBNAct(channels, 1, dtype=self.dtype_policy, name="bottleneck")

    def build(self, input_shape):
        low, high = check_inputs(self, input_shape, 2)
        grid = (low[0], low[1], low[2])
        self.query_conv.build((*grid, high[-1] + low[-1]))
        self.value_conv.build((*grid, high[-1]))
        inner = (*grid, self.channels // 2)
        self.attention.build([inner, inner])
        self.bottleneck.build((*grid, self.channels // 2 + high[-1]))
        self.input_spec = [
            keras.InputSpec(ndim=4, axes={-1: low[-1]}),
            keras.InputSpec(ndim=4, axes={-1: high[-1]}),
        ]

    def call(self, inputs, training=None):
        low, high = inputs
        high = resize_bilinear(high, ops.shape(low)[1:3], align_corners=False)
        query = self.query_conv(ops.concatenate([high, low], axis=-1))
        value = self.value_conv(high)
        for _ in range(self.num_passes):
            value = self.attention([query, value])
        return self.bottleneck(ops.concatenate([value, high], axis=-1), training=training)

    def compute_output_shape(self, input_shape):
        low = input_shape[0]
        return (low[0], low[1], low[2], self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "num_passes": self.num_passes,
        }
