import keras

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.global_context import GlobalContext
from keras_segup.models.decode_head import DecodeHead
from keras_segup.models.rsp.rsp_layers import RelationalSemanticsPropagator


@keras.saving.register_keras_serializable(package="keras_segup")
class RSPHead(DecodeHead):
    """The RSP head (Bai et al. 2021): stacked relational propagators on an efficient FPN.

    1. Efficient FPN: lateral 1x1 ConvBNReLU to `channels` (128) on P2..P5,
       and global context on P5 (`GlobalContext`).
    2. Top-down relational propagation: P4' = RSP(P4, P5'), P3' = RSP(P3, P4'),
       P2' = RSP(P2, P3'): each level gathers context from the k x k region
       of the coarser refined level.
    3. Classifier (3x3 ConvBNReLU, dropout, 1x1) on P2'; an auxiliary
       classifier on P4' (loss weight 0.4, as IFA and PSPNet use).

    The design choices are documented in docs/rsp.md.

    Args:
        num_classes: number of classes.
        channels: FPN width.
        key_channels: query/key channels of each relation.
        num_heads: relation heads.
        kernel_size: region size of each relation.
        dropout: dropout before the classifiers (training only).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[P2, P3, P4, P5]` at strides 4, 8, 16, 32, any channels.
        return_aux: also return the auxiliary logits.

    Returns:
        Logits at the P2 grid; with `return_aux`, `[logits, aux_logits]`,
        the auxiliary logits at the P4 grid.

    Example:
    >>> head = RSPHead(num_classes=19)
    >>> feats = [keras.ops.ones((1, 64 // s, 96 // s, c))
    ...          for s, c in ((4, 256), (8, 512), (16, 1024), (32, 2048))]
    >>> head(feats).shape
    (1, 16, 24, 19)
    """

    align_corners = False
    output_level = 0
    aux_levels = (2,)

    def __init__(
        self,
        num_classes,
        channels=128,
        key_channels=32,
        num_heads=4,
        kernel_size=3,
        dropout=0.1,
        **kwargs,
    ):
        super().__init__(num_classes, dropout=dropout, **kwargs)
        self.channels = channels
        self.key_channels = key_channels
        self.num_heads = num_heads
        self.kernel_size = kernel_size
        dtype = self.dtype_policy
        self.laterals = [
            ConvBNAct(channels, 1, dtype=dtype, name=f"lateral_{i}") for i in range(4)
        ]
        self.context = GlobalContext(channels, dtype=dtype, name="context")
        self.propagators = [
            RelationalSemanticsPropagator(
                key_channels, num_heads, kernel_size, dtype=dtype, name=f"propagator_{i}"
            )
            for i in range(3)
        ]
        self.classifier = self.classifier_block(channels, "classifier", use_bias=False)
        self.aux_classifier = self.classifier_block(channels, "aux_classifier", use_bias=False)

    def build_head(self, shapes):
        grids = [(*s[:3], self.channels) for s in shapes]
        for lateral, shape in zip(self.laterals, shapes):
            lateral.build(shape)
        self.context.build(grids[3])
        for propagator, low, high in zip(self.propagators, grids[:3], grids[1:]):
            propagator.build([low, high])
        self.classifier.build(grids[0])
        self.aux_classifier.build(grids[2])

    def call(self, inputs, training=None, return_aux=False):
        levels = [lateral(x, training=training) for lateral, x in zip(self.laterals, inputs)]
        levels[3] = self.context(levels[3], training=training)
        for i in (2, 1, 0):
            levels[i] = self.propagators[i]([levels[i], levels[i + 1]], training=training)
        logits = self.classifier(levels[0], training=training)
        if not return_aux:
            return logits
        return [logits, self.aux_classifier(levels[2], training=training)]

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "key_channels": self.key_channels,
            "num_heads": self.num_heads,
            "kernel_size": self.kernel_size,
        }
