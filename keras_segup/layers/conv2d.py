import weakref

import keras

from keras_segup.layers.batch_normalization import BatchNormalization
from keras_segup.ops import conv2d
from keras_segup.ops import fold_batch_norm


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@keras.saving.register_keras_serializable(package="keras_segup")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` running `keras_segup.ops.conv2d` where it can.

    The same arguments, weights and results as Keras's layer; channels-last
    convolutions without groups, with `"valid"` padding or `"same"` padding
    that is symmetric (stride 1, odd kernel span), run the fast
    per-backend op (on torch, without the two copies of Keras's
    channels-last path). Everything else is Keras's own call.

    A backbone can fold the batch norm that follows the convolution into it
    (`fold`): at inference the convolution then runs with the folded
    kernel and bias (`keras_segup.ops.fold_batch_norm`) and the batch norm
    passes its input through, so the pair is one convolution with a bias
    instead of a convolution and a normalisation pass. Called on its own,
    such a layer returns the normalised output.

    Args:
        explicit_padding: zeros added on each side before a `"valid"`
            convolution, an int or a pair (rows, columns), as
            `nn.Conv2d(padding=p)`: the fast op pads inside the
            convolution, with no padded copy of the input.
        *args, **kwargs: `keras.layers.Conv2D`'s arguments.

    Example:
    >>> Conv2D(16, 3, padding="same")(keras.ops.ones((1, 9, 11, 4))).shape
    (1, 9, 11, 16)
    >>> Conv2D(16, 3, strides=2, explicit_padding=1)(keras.ops.ones((1, 9, 11, 4))).shape
    (1, 5, 6, 16)
    """

    def __init__(self, *args, explicit_padding=None, **kwargs):
        super().__init__(*args, **kwargs)
        if explicit_padding is not None:
            explicit_padding = _pair(explicit_padding)
            if self.padding != "valid":
                raise ValueError(
                    f"{self.name}: `explicit_padding` needs `padding='valid'`; got padding={self.padding!r}."
                )
            if len(explicit_padding) != 2 or any(
                isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in explicit_padding
            ):
                raise ValueError(
                    f"{self.name}: `explicit_padding` must be an int >= 0 or a pair of them; got {explicit_padding!r}."
                )
        self.explicit_padding = explicit_padding
        self._batch_norm = None  # a weak reference: the batch norm is the graph's layer, not ours

    def fold(self, batch_norm):
        """Fold `batch_norm`, the layer that normalises this convolution's output, into it at inference.

        Args:
            batch_norm: a `keras_segup.layers.BatchNormalization` called on
                this layer's output and on nothing else.

        Example:
        >>> conv, norm = Conv2D(8, 3, use_bias=False), BatchNormalization()
        >>> inputs = keras.Input((9, 9, 4))
        >>> model = keras.Model(inputs, norm(conv(inputs)))
        >>> conv.fold(norm)
        >>> conv.folds_batch_norm(training=False), conv.folds_batch_norm(training=True)
        (True, False)
        """
        if not isinstance(batch_norm, BatchNormalization):
            raise ValueError(
                f"{self.name}: `fold` takes a keras_segup.layers.BatchNormalization; got {type(batch_norm).__name__}."
            )
        if keras.activations.serialize(self.activation) != "linear":
            raise ValueError(
                f"{self.name}: a batch norm after activation {keras.activations.serialize(self.activation)!r} "
                "cannot be folded into the convolution; use activation=None."
            )
        self._batch_norm = weakref.ref(batch_norm)
        batch_norm._folded_by = weakref.ref(self)

    def folded_batch_norm(self):
        """The batch norm given to `fold` (while it exists), or None."""
        return self._batch_norm() if self._batch_norm is not None else None

    def folds_batch_norm(self, training=None):
        """Whether a call with this `training` applies the folded batch norm's statistics."""
        norm = self.folded_batch_norm()
        if norm is None or self._symmetric_padding() is None or self.compute_dtype != "float32":
            return False
        return norm.runs_as_affine(training)

    def _symmetric_padding(self):
        if self.data_format != "channels_last" or self.groups != 1:
            return None
        if self.padding == "valid":
            return self.explicit_padding or (0, 0)
        spans = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation_rate)]
        if self.strides == (1, 1) and all(span % 2 == 0 for span in spans):
            return tuple(span // 2 for span in spans)
        return None

    def _padded(self, inputs):
        (ph, pw) = self.explicit_padding or (0, 0)
        axes = [[0, 0], [ph, ph], [pw, pw]]
        axes.insert(3 if self.data_format == "channels_last" else 1, [0, 0])
        return keras.ops.pad(inputs, axes)

    def call(self, inputs, training=None):
        padding = self._symmetric_padding()
        if padding is None:
            return super().call(self._padded(inputs) if self.explicit_padding else inputs)
        kernel, bias = self.kernel, self.bias if self.use_bias else None
        if self.folds_batch_norm(training):
            norm = self._batch_norm()
            kernel, bias = fold_batch_norm(
                kernel, bias, norm.gamma if norm.scale else None, norm.beta if norm.center else None,
                norm.moving_mean, norm.moving_variance, norm.epsilon,
            )
        outputs = conv2d(inputs, kernel, bias, self.strides, padding, self.dilation_rate)
        return self.activation(outputs)

    def _padded_shape(self, input_shape):
        if not self.explicit_padding:
            return input_shape
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        shape = list(input_shape)
        for axis, p in zip(spatial, self.explicit_padding):
            shape[axis] = None if shape[axis] is None else shape[axis] + 2 * p
        return tuple(shape)

    def build(self, input_shape):
        super().build(self._padded_shape(input_shape))

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(self._padded_shape(input_shape))

    def get_config(self):
        return {**super().get_config(), "explicit_padding": self.explicit_padding}
