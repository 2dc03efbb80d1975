import keras

from keras_segup.layers.conv2d import Conv2D
from keras_segup.layers.conv_bn_act import ConvBNAct


@keras.saving.register_keras_serializable(package="keras_segup")
class ClassifierBlock(keras.layers.Layer):
    """Conv-BN-activation, dropout and a 1x1 classifier: the segmentation output.

    One layer for the heads' classifiers and auxiliary heads: GAI's output
    and `dsn` heads, IFA's `Aux_Module`, FANet's `FPNOutput`.

    Args:
        channels: channels of the hidden convolution.
        num_classes: number of classes (output channels).
        kernel_size: kernel of the hidden convolution.
        use_bias: bias in the hidden convolution.
        activation: activation after its batch norm (see `ConvBNAct`).
        dropout: channel dropout rate before the classifier (training only).
        classifier_bias: bias in the 1x1 classifier.
        **kwargs: base layer arguments.

    Example:
    >>> block = ClassifierBlock(64, num_classes=19, kernel_size=3)
    >>> block(keras.ops.ones((1, 16, 32, 128))).shape
    (1, 16, 32, 19)
    """

    def __init__(
        self,
        channels,
        num_classes,
        kernel_size=3,
        use_bias=True,
        activation="relu",
        dropout=0.1,
        classifier_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = channels
        self.num_classes = num_classes
        self.kernel_size = kernel_size
        self.use_bias = use_bias
        self.activation = activation
        self.dropout = dropout
        self.classifier_bias = classifier_bias
        self.conv = ConvBNAct(
            channels,
            kernel_size,
            use_bias=use_bias,
            activation=activation,
            dtype=self.dtype_policy,
            name="conv",
        )
        self.drop = keras.layers.SpatialDropout2D(dropout, dtype=self.dtype_policy)
        self.classifier = Conv2D(
            num_classes,
            1,
            use_bias=classifier_bias,
            dtype=self.dtype_policy,
            name="classifier",
        )

    def build(self, input_shape):
        self.conv.build(input_shape)
        hidden = self.conv.compute_output_shape(input_shape)
        self.drop.build(hidden)
        self.classifier.build(hidden)

    def call(self, inputs, training=None):
        x = self.conv(inputs, training=training)
        if self.dropout:
            x = self.drop(x, training=training)
        return self.classifier(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "num_classes": self.num_classes,
            "kernel_size": self.kernel_size,
            "use_bias": self.use_bias,
            "activation": self.activation,
            "dropout": self.dropout,
            "classifier_bias": self.classifier_bias,
        }
