"""The layers of GAI (Cheng et al.): criss-cross attention and the guided attentive interpolation."""

import keras
from keras import ops

from keras_segup.layers.conv2d import Conv2D
from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.validation import check_inputs
from keras_segup.ops import criss_cross_softmax
from keras_segup.ops import resize_bilinear


@keras.saving.register_keras_serializable(package="keras_segup")
class CrissCrossAttention(keras.layers.Layer):
    """Criss-cross attention (CCNet) with a separate query input, as GAI uses it.

    Each position attends to every position of its column (itself excluded)
    and of its row (itself included), with ONE softmax over the H + W
    energies and no scaling; the result is added to `value` weighted by a
    learned `gamma` (initialised to 0, so the block starts as identity):

        E_col[h, w, g] = <Q[h, w], K[g, w]>  (-inf where g == h)
        E_row[h, w, g] = <Q[h, w], K[h, g]>
        A = softmax([E_col, E_row])
        out = gamma * (sum_g A_col[g] V[g, w] + sum_g A_row[g] V[h, g]) + value

    Q is a 1x1 convolution of `query`; K and V are 1x1 convolutions of
    `value` (all with bias). Energies and softmax run in float32 under
    mixed precision.

    Args:
        key_channels: channels of Q and K (GAI: channels // 16 = 8).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[query, value]`, (B, H, W, Cq) and (B, H, W, Cv).

    Returns:
        (B, H, W, Cv).

    Example:
    >>> cca = CrissCrossAttention(8)
    >>> q, v = keras.ops.ones((1, 9, 13, 64)), keras.ops.ones((1, 9, 13, 64))
    >>> cca([q, v]).shape
    (1, 9, 13, 64)
    """

    def __init__(self, key_channels=8, **kwargs):
        super().__init__(**kwargs)
        self.key_channels = key_channels
        conv = dict(kernel_size=1, dtype=self.dtype_policy)
        self.query_conv = Conv2D(key_channels, name="query_conv", **conv)
        self.key_conv = Conv2D(key_channels, name="key_conv", **conv)
        self.value_conv = None

    def build(self, input_shape):
        query_shape, value_shape = check_inputs(self, input_shape, 2, same_size=True)
        value_channels = value_shape[-1]
        self.value_conv = Conv2D(
            value_channels, 1, dtype=self.dtype_policy, name="value_conv"
        )
        self.query_conv.build(query_shape)
        self.key_conv.build(value_shape)
        self.value_conv.build(value_shape)
        self.gamma = self.add_weight(name="gamma", shape=(1,), initializer="zeros")
        self.input_spec = [
            keras.InputSpec(ndim=4, axes={-1: query_shape[-1]}),
            keras.InputSpec(ndim=4, axes={-1: value_channels}),
        ]

    def call(self, inputs):
        query, value = inputs
        q = ops.cast(self.query_conv(query), "float32")
        k = ops.cast(self.key_conv(value), "float32")
        v = self.value_conv(value)
        energy_col = ops.einsum("bhwc,bgwc->bhwg", q, k)
        energy_row = ops.einsum("bhwc,bhgc->bhwg", q, k)
        # one softmax over both; a normaliser is applied to the (fewer) output channels
        col, row, scale = criss_cross_softmax(energy_col, energy_row)
        out = ops.einsum("bhwg,bgwc->bhwc", ops.cast(col, v.dtype), v)
        out = out + ops.einsum("bhwg,bhgc->bhwc", ops.cast(row, v.dtype), v)
        if scale is not None:  # the backends' unnormalised weights
            out = out * ops.cast(scale, v.dtype)
        return ops.cast(self.gamma, out.dtype) * out + value

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "key_channels": self.key_channels}


@keras.saving.register_keras_serializable(package="keras_segup")
class GuidedAttentiveInterpolation(keras.layers.Layer):
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
    >>> gai = GuidedAttentiveInterpolation(128)
    >>> low, high = keras.ops.ones((1, 33, 49, 128)), keras.ops.ones((1, 9, 13, 128))
    >>> gai([low, high]).shape
    (1, 33, 49, 128)
    """

    def __init__(self, channels=128, num_passes=2, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.num_passes = num_passes
        inner = channels // 2
        self.query_conv = Conv2D(inner, 1, dtype=self.dtype_policy, name="conv1")
        self.value_conv = Conv2D(inner, 1, dtype=self.dtype_policy, name="conv2")
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
