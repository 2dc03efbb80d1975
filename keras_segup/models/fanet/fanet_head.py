import keras
from keras import ops

from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.models.decode_head import DecodeHead
from keras_segup.models.fanet.fanet_layers import FastAttention


@keras.saving.register_keras_serializable(package="keras_segup")
class FANetHead(DecodeHead):
    """The FANet decode head (Hu et al., "Real-time Semantic Segmentation with Fast Attention").

    Top-down over the four levels (coarsest first). At each level a
    `FastAttention` block refines the features, the coarser level's "up"
    map is added (bilinear, `align_corners=True`), and then:
    - an "up" 1x1 ConvBN + LeakyReLU to the next finer level's channels,
      with the official padding of 1 (its output is 2 pixels larger and
      its border is LeakyReLU(BN(0))), for every level but the finest;
    - a "smooth" 3x3 ConvBN + LeakyReLU to `channels`, for the two coarsest
      levels and the finest.
    The classifier takes `[up(smooth_16), smooth_4]`; two auxiliary
    classifiers read smooth_32 and smooth_16 (loss weight 0.5 each).

    Args:
        num_classes: number of classes.
        channels: width of the smoothed maps (FANet: 128).
        key_channels: channels of the attention keys (FANet: 32).
        aux_channels: hidden width of the auxiliary classifiers (64).
        classifier_channels: hidden width of the main classifier (256).
        dropout: dropout before the classifiers (FANet: none).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[C2, C3, C4, C5]` finest to coarsest, any channel counts.
        return_aux: also return the auxiliary logits.

    Returns:
        Logits at the finest grid; with `return_aux`,
        `[logits, aux_coarsest, aux_second]`, each at its level's grid.

    Example:
    >>> head = FANetHead(num_classes=19)
    >>> feats = [keras.ops.ones((1, 64 // s, 96 // s, c))
    ...          for s, c in ((4, 64), (8, 128), (16, 256), (32, 512))]
    >>> head(feats).shape
    (1, 16, 24, 19)
    """

    align_corners = True
    output_level = 0
    aux_levels = (3, 2)

    def __init__(
        self,
        num_classes,
        channels=128,
        key_channels=32,
        aux_channels=64,
        classifier_channels=256,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(num_classes, dropout=dropout, **kwargs)
        self.channels = channels
        self.key_channels = key_channels
        self.aux_channels = aux_channels
        self.classifier_channels = classifier_channels
        dtype = self.dtype_policy
        # index 0 is the finest level (stride 4), 3 the coarsest
        self.attentions = [
            FastAttention(key_channels, dtype=dtype, name=f"attention_{i}") for i in range(4)
        ]
        # levels with a smooth block, and their blocks in the same order
        self.smooth_levels = (0, 2, 3)
        self.smooths = [
            ConvBNAct(channels, 3, activation="leaky_relu", dtype=dtype, name=f"smooth_{i}")
            for i in self.smooth_levels
        ]
        # ups[i - 1] maps level i to level i - 1's channels (built in build)
        self.ups = []
        classifier = dict(use_bias=False, activation="leaky_relu", classifier_bias=False)
        self.classifier = self.classifier_block(classifier_channels, "classifier", **classifier)
        self.aux_classifiers = [
            self.classifier_block(aux_channels, f"aux_classifier_{i}", **classifier)
            for i in range(2)
        ]

    def build_head(self, shapes):
        self.ups = [
            ConvBNAct(
                shapes[i - 1][-1], 1, padding=1, activation="leaky_relu",
                dtype=self.dtype_policy, name=f"up_{i}",
            )
            for i in (1, 2, 3)
        ]
        for i, shape in enumerate(shapes):
            self.attentions[i].build(shape)
            if i > 0:
                self.ups[i - 1].build(shape)
            if i in self.smooth_levels:
                self.smooths[self.smooth_levels.index(i)].build(shape)
        smoothed = [(*s[:3], self.channels) for s in shapes]
        self.classifier.build((*smoothed[0][:3], 2 * self.channels))
        self.aux_classifiers[0].build(smoothed[3])
        self.aux_classifiers[1].build(smoothed[2])

    def call(self, inputs, training=None, return_aux=False):
        up, smoothed = None, {}
        for i in (3, 2, 1, 0):
            x = self.attentions[i](inputs[i], training=training)
            if up is not None:
                x = x + self.resize(up, x)
            if i > 0:
                up = self.ups[i - 1](x, training=training)
            if i in self.smooth_levels:
                smooth = self.smooths[self.smooth_levels.index(i)]
                smoothed[i] = smooth(x, training=training)
        fine = smoothed[0]
        coarse = self.resize(smoothed[2], fine)
        logits = self.classifier(ops.concatenate([coarse, fine], -1), training=training)
        if not return_aux:
            return logits
        aux = [
            self.aux_classifiers[0](smoothed[3], training=training),
            self.aux_classifiers[1](smoothed[2], training=training),
        ]
        return [logits, *aux]

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "key_channels": self.key_channels,
            "aux_channels": self.aux_channels,
            "classifier_channels": self.classifier_channels,
        }
