import keras
from keras import ops

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.global_context import GlobalContext
from keras_segup.models.decode_head import DecodeHead
from keras_segup.models.gai.gai_layers import GuidedAttentiveInterpolation


@keras.saving.register_keras_serializable(package="keras_segup")
class GAIHead(DecodeHead):
    """The GAI decode head (Cheng et al., CLANet `CLAHead` with criss-cross GAI).

    1. Lateral 1x1 ConvBNReLU to `channels` on P2..P5.
    2. Global context on P5 (`GlobalContext`).
    3. Two `GuidedAttentiveInterpolation` blocks interpolate P4 and P5 onto
       the P3 grid, guided by P3.
    4. Merge `[P3, P4', P5']` (1x1 then 3x3 ConvBNReLU), upsample to the P2
       grid (bilinear, half-pixel), and classify `[merged, P2]`.
    5. Two auxiliary classifiers on P4' and P5' (loss weight 1.0 each).

    Args:
        num_classes: number of classes.
        channels: decoder width (GAI: 128).
        dropout: dropout before the classifiers (training only).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[P2, P3, P4, P5]`, backbone features at strides 4, 8, 16, 32
            with any channel counts.
        return_aux: also return the auxiliary logits.

    Returns:
        Logits at the P2 grid (B, H/4, W/4, num_classes); with `return_aux`,
        `[logits, aux_p4, aux_p5]`, the auxiliary logits at the P3 grid.

    Example:
    >>> head = GAIHead(num_classes=19)
    >>> feats = [keras.ops.ones((1, 64 // s, 96 // s, c))
    ...          for s, c in ((4, 64), (8, 128), (16, 256), (32, 512))]
    >>> head(feats).shape
    (1, 16, 24, 19)
    """

    align_corners = False
    output_level = 0
    aux_levels = (1, 1)

    def __init__(self, num_classes, channels=128, dropout=0.1, **kwargs):
        super().__init__(num_classes, dropout=dropout, **kwargs)
        self.channels = channels
        dtype = self.dtype_policy
        self.laterals = [
            ConvBNAct(channels, 1, dtype=dtype, name=f"lateral_{i}") for i in range(4)
        ]
        self.context = GlobalContext(channels, dtype=dtype, name="context")
        self.gai_blocks = [
            GuidedAttentiveInterpolation(channels, dtype=dtype, name=f"gai_{i}")
            for i in range(2)
        ]
        self.merge = [
            ConvBNAct(channels, 1, dtype=dtype, name="merge_1x1"),
            ConvBNAct(channels, 3, dtype=dtype, name="merge_3x3"),
        ]
        self.classifier = self.classifier_block(
            channels, "classifier", kernel_size=1, use_bias=False
        )
        self.aux_classifiers = [
            self.classifier_block(channels, f"aux_classifier_{i}", kernel_size=3)
            for i in range(2)
        ]

    def build_head(self, shapes):
        grids = [(s[0], s[1], s[2], self.channels) for s in shapes]
        for lateral, shape in zip(self.laterals, shapes):
            lateral.build(shape)
        self.context.build(grids[3])
        for gai, coarse in zip(self.gai_blocks, grids[2:]):
            gai.build([grids[1], coarse])
        self.merge[0].build((*grids[1][:3], 3 * self.channels))
        self.merge[1].build(grids[1])
        self.classifier.build((*grids[0][:3], 2 * self.channels))
        for aux in self.aux_classifiers:
            aux.build(grids[1])

    def call(self, inputs, training=None, return_aux=False):
        p2, p3, p4, p5 = [
            lateral(x, training=training) for lateral, x in zip(self.laterals, inputs)
        ]
        p5 = self.context(p5, training=training)
        p4 = self.gai_blocks[0]([p3, p4], training=training)
        p5 = self.gai_blocks[1]([p3, p5], training=training)
        merged = self.merge[0](ops.concatenate([p3, p4, p5], -1), training=training)
        merged = self.merge[1](merged, training=training)
        merged = self.resize(merged, p2)
        logits = self.classifier(ops.concatenate([merged, p2], -1), training=training)
        if not return_aux:
            return logits
        aux = [c(x, training=training) for c, x in zip(self.aux_classifiers, (p4, p5))]
        return [logits, *aux]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
