import keras

from keras_segup.layers.conv2d import Conv2D
from keras_segup.ops import conv2d
from keras_segup.ops import fold_batch_norm
from keras_segup.ops.conv import ACTIVATIONS
from keras_segup.ops.reference import activate


@keras.saving.register_keras_serializable(package="keras_segup")
class ConvBNAct(keras.layers.Layer):
    """Convolution, batch normalisation and an optional activation.

    The building block of every head. Padding is explicit and symmetric, as
    in PyTorch's `nn.Conv2d(padding=p)`, so official weights port exactly
    (FANet even pads a 1x1 convolution by 1). Batch normalisation uses
    PyTorch's epsilon 1e-5 and momentum 0.1 (Keras momentum 0.9). In
    inference (`training` false, or a frozen batch norm) the statistics
    are folded into the convolution, `keras_segup.ops.fold_batch_norm`: one
    convolution with a bias instead of a convolution and a normalisation
    pass, equal to float32 rounding.

    Args:
        filters: output channels.
        kernel_size: int.
        padding: zero padding on each side; default `kernel_size // 2`
            times `dilation_rate` ("same" for stride 1).
        strides: int.
        dilation_rate: int.
        use_bias: whether the convolution has a bias.
        activation: `"relu"`, `"leaky_relu"` (negative slope 0.01, PyTorch's
            default) or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
    >>> block = ConvBNAct(64, 3)
    >>> block(keras.ops.ones((2, 17, 23, 32))).shape
    (2, 17, 23, 64)
    """

    def __init__(
        self,
        filters,
        kernel_size=1,
        padding=None,
        strides=1,
        dilation_rate=1,
        use_bias=False,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {ACTIVATIONS}; got {activation!r}."
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.padding = dilation_rate * (kernel_size // 2) if padding is None else padding
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.use_bias = use_bias
        self.activation = activation
        self.conv = Conv2D(
            filters,
            kernel_size,
            strides=strides,
            dilation_rate=dilation_rate,
            use_bias=use_bias,
            kernel_initializer="he_normal",
            dtype=self.dtype_policy,
            name="conv",
        )
        self.bn = keras.layers.BatchNormalization(
            epsilon=1e-5, momentum=0.9, dtype=self.dtype_policy, name="bn"
        )

    def build(self, input_shape):
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] += 2 * self.padding
        self.conv.build(tuple(padded))
        self.bn.build(self.conv.compute_output_shape(tuple(padded)))

    def call(self, inputs, training=None):
        conv = self.conv
        options = (self.strides, self.padding, self.dilation_rate)
        if training and self.bn.trainable:
            x = conv2d(inputs, conv.kernel, conv.bias if self.use_bias else None, *options)
            return activate(self.bn(x, training=training), self.activation)
        return conv2d(inputs, *self.folded_weights(), *options, activation=self.activation)

    def folded_weights(self):
        """`(kernel, bias)` of the convolution with the batch norm's statistics folded in (float32)."""
        bn = self.bn
        return fold_batch_norm(
            self.conv.kernel, self.conv.bias if self.use_bias else None,
            bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance, bn.epsilon,
        )

    def compute_output_shape(self, input_shape):
        span = self.dilation_rate * (self.kernel_size - 1) + 1
        spatial = [
            None if n is None else (n + 2 * self.padding - span) // self.strides + 1
            for n in input_shape[1:3]
        ]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "padding": self.padding,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
            "use_bias": self.use_bias,
            "activation": self.activation,
        }
