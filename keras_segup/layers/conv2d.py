import keras

from keras_segup.ops import conv2d


@keras.saving.register_keras_serializable(package="keras_segup")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` running `keras_segup.ops.conv2d` where it can.

    The same arguments, weights and results as Keras's layer; channels-last
    convolutions without groups, with `"valid"` padding or `"same"` padding
    that is symmetric (stride 1, odd kernel span), run the fast
    per-backend op (on torch, without the two copies of Keras's
    channels-last path). Everything else is Keras's own call.

    Example:
    >>> Conv2D(16, 3, padding="same")(keras.ops.ones((1, 9, 11, 4))).shape
    (1, 9, 11, 16)
    """

    def _symmetric_padding(self):
        if self.data_format != "channels_last" or self.groups != 1:
            return None
        if self.padding == "valid":
            return (0, 0)
        spans = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation_rate)]
        if self.strides == (1, 1) and all(span % 2 == 0 for span in spans):
            return tuple(span // 2 for span in spans)
        return None

    def call(self, inputs):
        padding = self._symmetric_padding()
        if padding is None:
            return super().call(inputs)
        outputs = conv2d(
            inputs, self.kernel, self.bias if self.use_bias else None,
            self.strides, padding, self.dilation_rate,
        )
        return self.activation(outputs)
