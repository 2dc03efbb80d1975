import keras

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.models.decode_head import DecodeHead
from keras_segup.models.ifa.ifa_layers import ImplicitFeatureAlignment


@keras.saving.register_keras_serializable(package="keras_segup")
class IFAHead(DecodeHead):
    """The IFA decode head (official `fpn_ifa` without ASPP, plus `Aux_Module`).

    Lateral 1x1 ConvBNReLU (with bias) to `channels` on P2..P5, then
    `ImplicitFeatureAlignment` over the four levels to the P2 grid or to
    any requested `output_size`. The auxiliary classifier (3x3 ConvBNReLU
    + 1x1, loss weight 0.4) reads the raw P4 features.

    Args:
        num_classes: number of classes.
        channels: lateral width (IFA: 256).
        pos_dim: positional encoding channels per level (IFA: 24).
        hidden_units: IFA MLP widths (IFA: 512, 256, 256).
        aux_channels: hidden width of the auxiliary classifier (IFA: 256).
        chunk_size: maximum output pixels the MLP decodes at once.
        dropout: dropout before the auxiliary classifier (training only).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[P2, P3, P4, P5]` at strides 4, 8, 16, 32, any channels.
        output_size: `(height, width)` of the logits; default: the P2 grid.
        return_aux: also return the auxiliary logits.

    Returns:
        Logits (B, height, width, num_classes); with `return_aux`,
        `[logits, aux_logits]`, the auxiliary logits at the P4 grid.

    Example:
    >>> head = IFAHead(num_classes=19)
    >>> feats = [keras.ops.ones((1, 64 // s, 96 // s, c))
    ...          for s, c in ((4, 256), (8, 512), (16, 1024), (32, 2048))]
    >>> head(feats, output_size=(64, 96)).shape
    (1, 64, 96, 19)
    """

    align_corners = True
    output_level = 0
    aux_levels = (2,)

    def __init__(
        self,
        num_classes,
        channels=256,
        pos_dim=24,
        hidden_units=(512, 256, 256),
        aux_channels=256,
        chunk_size=32768,
        dropout=0.1,
        **kwargs,
    ):
        super().__init__(num_classes, dropout=dropout, **kwargs)
        self.channels = channels
        self.pos_dim = pos_dim
        self.hidden_units = tuple(hidden_units)
        self.aux_channels = aux_channels
        self.chunk_size = chunk_size
        dtype = self.dtype_policy
        self.laterals = [
            ConvBNAct(channels, 1, use_bias=True, dtype=dtype, name=f"lateral_{i}")
            for i in range(4)
        ]
        self.ifa = ImplicitFeatureAlignment(
            num_classes, pos_dim, hidden_units, chunk_size, dtype=dtype, name="ifa"
        )
        self.aux_classifier = self.classifier_block(aux_channels, "aux_classifier", kernel_size=3)

    def build_head(self, shapes):
        for lateral, shape in zip(self.laterals, shapes):
            lateral.build(shape)
        self.ifa.build([(*s[:3], self.channels) for s in shapes])
        self.aux_classifier.build(shapes[2])

    def call(self, inputs, output_size=None, training=None, return_aux=False):
        levels = [lateral(x, training=training) for lateral, x in zip(self.laterals, inputs)]
        logits = self.ifa(levels, size=output_size, training=training)
        if not return_aux:
            return logits
        return [logits, self.aux_classifier(inputs[2], training=training)]

    def compute_output_spec(self, inputs, output_size=None, training=None, return_aux=False):
        spec = super().compute_output_spec(inputs, return_aux=return_aux)
        if output_size is None:
            return spec
        logits = spec[0] if return_aux else spec
        resized = keras.KerasTensor(
            (logits.shape[0], *output_size, self.num_classes), dtype=logits.dtype
        )
        return [resized, *spec[1:]] if return_aux else resized

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "pos_dim": self.pos_dim,
            "hidden_units": list(self.hidden_units),
            "aux_channels": self.aux_channels,
            "chunk_size": self.chunk_size,
        }
