import keras
from keras import ops

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.relational_semantics_extractor import RelationalSemanticsExtractor
from keras_segup.layers.validation import check_inputs


@keras.saving.register_keras_serializable(package="keras_segup")
class RelationalSemanticsPropagator(keras.layers.Layer):
    """Relational Semantics Propagator (RSP): fuses RSE context into the low-level map.

    `out = ReLU(low + BN(conv1x1(RSE([low, high]))))`: a residual, so the
    low-level detail passes through unchanged and the relational context
    from the coarser map is added on top (our choice, docs/rsp.md).

    Args:
        key_channels, num_heads, kernel_size: of the `RelationalSemanticsExtractor`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[low, high]`, (B, H, W, C) and (B, h, w, Ch).

    Returns:
        (B, H, W, C).

    Example:
    >>> rsp = RelationalSemanticsPropagator()
    >>> low, high = keras.ops.ones((1, 33, 49, 128)), keras.ops.ones((1, 17, 25, 128))
    >>> rsp([low, high]).shape
    (1, 33, 49, 128)
    """

    def __init__(self, key_channels=32, num_heads=4, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.key_channels = key_channels
        self.num_heads = num_heads
        self.kernel_size = kernel_size
        self.extractor = RelationalSemanticsExtractor(
            key_channels, num_heads, kernel_size, dtype=self.dtype_policy, name="extractor"
        )
        self.fuse = None

    def build(self, input_shape):
        low, high = check_inputs(self, input_shape, 2)
        self.extractor.build([low, high])
        self.fuse = ConvBNAct(low[-1], 1, activation=None, dtype=self.dtype_policy, name="fuse")
        self.fuse.build((*low[:3], high[-1]))

    def call(self, inputs, training=None):
        low, high = inputs
        context = self.extractor([low, high])
        return ops.relu(low + self.fuse(context, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "key_channels": self.key_channels,
            "num_heads": self.num_heads,
            "kernel_size": self.kernel_size,
        }
