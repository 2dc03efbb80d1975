import keras
from keras import ops

from keras_segup.layers.validation import check_inputs


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
        self.query_conv = keras.layers.Conv2D(key_channels, name="query_conv", **conv)
        self.key_conv = keras.layers.Conv2D(key_channels, name="key_conv", **conv)
        self.value_conv = None

    def build(self, input_shape):
        query_shape, value_shape = check_inputs(self, input_shape, 2, same_size=True)
        value_channels = value_shape[-1]
        self.value_conv = keras.layers.Conv2D(
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
        height = ops.shape(q)[1]
        energy_col = ops.einsum("bhwc,bgwc->bhwg", q, k)
        diagonal = ops.eye(height, dtype="bool")[None, :, None, :]
        energy_col = ops.where(diagonal, float("-inf"), energy_col)
        energy_row = ops.einsum("bhwc,bhgc->bhwg", q, k)
        attention = ops.softmax(ops.concatenate([energy_col, energy_row], -1), axis=-1)
        attention = ops.cast(attention, v.dtype)
        out = ops.einsum("bhwg,bgwc->bhwc", attention[..., :height], v)
        out = out + ops.einsum("bhwg,bhgc->bhwc", attention[..., height:], v)
        return ops.cast(self.gamma, out.dtype) * out + value

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "key_channels": self.key_channels}

