"""The layer of IFA (Hu et al., ECCV 2022): implicit feature alignment, logits at any resolution."""

import keras
from keras import ops
import numpy as np

from keras_segup.layers.validation import check_inputs
from keras_segup.ops import fold_batch_norm
from keras_segup.ops import map_row_blocks
from keras_segup.ops import nearest_cell
from keras_segup.ops import nearest_cell_axis
from keras_segup.ops.validation import static_size


@keras.saving.register_keras_serializable(package="keras_segup")
class ImplicitFeatureAlignment(keras.layers.Layer):
    """Implicit Feature Alignment (Hu et al., ECCV 2022): logits at any resolution.

    For each target cell (i, j) of the requested output grid and each input
    level, the level's nearest cell is read (`keras_segup.ops.nearest_cell`)
    together with the offset of the target centre from that cell's centre,
    in cells, order (y, x). The offset is encoded with a learnable
    frequency matrix `E` (pos_dim / 2 x 2, initialised to 2^(6k/(n-1)) on
    the y and x axes):

        pe = [rel_y, rel_x, sin(rel E^T), cos(rel E^T)]      (2 + pos_dim)

    `[pe, feature]` of every level, concatenated in level order, goes
    through a per-pixel MLP (Dense-BN-ReLU per hidden layer, then a Dense
    classifier).

    Implementation: the first MLP layer is linear, so each level's feature
    part is projected at the level's own resolution (only the rows a block
    reads) and only the projections are gathered: the (pixels x sum_l(C_l + 2 + pos_dim))
    matrix of the official code is never built, and large outputs are
    decoded in row blocks of at most `chunk_size` pixels (inference only;
    in training the batch norms need every pixel at once). A level whose
    grid divides the output's is added by broadcasting, never repeated in
    memory; the positional encodings of all levels go through one matmul;
    at inference the batch norms are folded into the linear layers.

    Args:
        num_classes: number of classes.
        pos_dim: sin + cos encoding channels per level (IFA: 24).
        hidden_units: widths of the hidden MLP layers (IFA: 512, 256, 256).
        chunk_size: maximum output pixels decoded at once at inference.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: list of level features (B, h_l, w_l, C_l), finest first.
        size: `(height, width)` of the output; default: the first level's grid.

    Returns:
        Logits (B, height, width, num_classes).

    Example:
    >>> ifa = ImplicitFeatureAlignment(19)
    >>> levels = [keras.ops.ones((1, 32 // s, 48 // s, 256)) for s in (1, 2, 4, 8)]
    >>> ifa(levels, size=(128, 192)).shape
    (1, 128, 192, 19)
    """

    def __init__(
        self,
        num_classes,
        pos_dim=24,
        hidden_units=(512, 256, 256),
        chunk_size=32768,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pos_dim % 4:
            raise ValueError(f"`pos_dim` must be a multiple of 4; got {pos_dim}.")
        self.num_classes = num_classes
        self.pos_dim = pos_dim
        self.hidden_units = tuple(hidden_units)
        self.chunk_size = chunk_size
        dtype = self.dtype_policy
        bn = dict(epsilon=1e-5, momentum=0.9, dtype=dtype)
        self.norms = [
            keras.layers.BatchNormalization(name=f"bn_{i}", **bn)
            for i in range(len(self.hidden_units))
        ]
        self.denses = [
            keras.layers.Dense(units, dtype=dtype, name=f"dense_{i + 1}")
            for i, units in enumerate(self.hidden_units[1:])
        ]
        self.classifier = keras.layers.Dense(num_classes, dtype=dtype, name="classifier")

    @property
    def encoding_dim(self):
        """Channels of one level's positional encoding: 2 + pos_dim."""
        return 2 + self.pos_dim

    def build(self, input_shape):
        shapes = check_inputs(self, input_shape, len(input_shape))
        self.level_channels = [s[-1] for s in shapes]
        n = self.pos_dim // 4
        scales = 2.0 ** np.linspace(0, 6, n)
        initial = np.zeros((2 * n, 2), "float32")
        initial[:n, 0] = scales
        initial[n:, 1] = scales
        self.frequencies = [
            self.add_weight(
                name=f"frequencies_{i + 1}",
                shape=(2 * n, 2),
                initializer=keras.initializers.Constant(initial),
            )
            for i in range(len(shapes))
        ]
        in_dim = sum(self.encoding_dim + c for c in self.level_channels)
        self.kernel = self.add_weight(
            name="kernel", shape=(in_dim, self.hidden_units[0]), initializer="he_normal"
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.hidden_units[0],), initializer="zeros"
        )
        for norm, units in zip(self.norms, self.hidden_units):
            norm.build((None, None, None, units))
        for dense, units in zip(self.denses, self.hidden_units):
            dense.build((None, units))
        self.classifier.build((None, self.hidden_units[-1]))
        self.input_spec = [keras.InputSpec(ndim=4, axes={-1: c}) for c in self.level_channels]

    def _kernel_rows(self, level):
        """(start of the encoding rows, start of the feature rows) of a level."""
        start = sum(self.encoding_dim + c for c in self.level_channels[:level])
        return start, start + self.encoding_dim

    def _linear_layers(self, training):
        """`(kernel, bias)` of the MLP's linear layers before each batch norm.

        At inference each batch norm is folded into the layer before it
        (`keras_segup.ops.fold_batch_norm`), which removes a full pass over
        every decoded pixel per hidden layer; in training they are the raw
        weights and the norms run.
        """
        layers = [(self.kernel, self.bias)] + [(d.kernel, d.bias) for d in self.denses]
        if not self._folds(training):
            return [(ops.cast(k, self.compute_dtype), ops.cast(b, self.compute_dtype)) for k, b in layers]
        folded = []
        for (kernel, bias), norm in zip(layers, self.norms):
            kernel, bias = fold_batch_norm(
                kernel, bias, norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance, norm.epsilon
            )
            folded.append((ops.cast(kernel, self.compute_dtype), ops.cast(bias, self.compute_dtype)))
        return folded

    def _folds(self, training):
        return not (training and all(norm.trainable for norm in self.norms))

    def _encoding(self, inputs, size, row_start, rows, kernel, bias, training):
        """The positional part of the first layer for `rows` rows from `row_start`: (rows, W, units).

        It does not depend on the features: the encodings of all levels
        are concatenated and multiplied by their kernel rows at once. A
        level on the output's own grid (known statically) has offset 0
        everywhere, so its encoding is the constant `[0, 0, sin 0, cos 0]`:
        at inference its cosine rows of the kernel are added to the bias
        instead (a product of all-zero tensors also has no usable int8
        scale, and XNNPACK refuses it); in training it stays, so that its
        frequencies have a (zero) gradient.
        """
        height, width = size
        block = (rows, width)
        encodings, kernels = [], []
        for level, x in enumerate(inputs):
            _, in_height, in_width, _ = ops.shape(x)
            start, _ = self._kernel_rows(level)
            level_kernel = kernel[start : start + self.encoding_dim]
            if not training and all(isinstance(n, int) for n in (in_height, in_width, height, width)) \
                    and (in_height, in_width) == (height, width):
                bias = bias + ops.sum(level_kernel[2 + self.pos_dim // 2 :], axis=0)
                continue
            _, rel_y = nearest_cell_axis(in_height, height)
            _, rel_x = nearest_cell_axis(in_width, width)
            rel = ops.stack(
                [
                    ops.broadcast_to(_take_rows(rel_y, row_start, rows, axis=0)[:, None], block),
                    ops.broadcast_to(rel_x[None, :], block),
                ],
                axis=-1,
            )
            angles = ops.matmul(rel, ops.transpose(self.frequencies[level]))
            encodings += [rel, ops.sin(angles), ops.cos(angles)]
            kernels.append(level_kernel)
        if not encodings:
            return ops.broadcast_to(bias, (*block, self.hidden_units[0]))
        encoding = ops.cast(ops.concatenate(encodings, axis=-1), self.compute_dtype)
        return ops.matmul(encoding, ops.concatenate(kernels, axis=0)) + bias

    def _first_layer(self, inputs, size, row_start, rows, kernel, bias, step, training):
        """Pre-activations of the first MLP layer for `rows` output rows from `row_start`.

        Each level's features are projected by their kernel rows, only the
        level rows the block reads. A level whose grid divides the output's
        is added by broadcasting each of its cells over its `ry x rx`
        output cells; the others are gathered (`nearest_cell`).
        `row_start` is a multiple of `step` (the block size), a Python int
        or, inside JAX's block loop, a traced scalar.
        """
        height, width = size
        units = self.hidden_units[0]
        encoding = self._encoding(inputs, size, row_start, rows, kernel, bias, training)
        total = ops.broadcast_to(encoding, (ops.shape(inputs[0])[0], rows, width, units))
        for level, x in enumerate(inputs):
            _, start = self._kernel_rows(level)
            feature_kernel = kernel[start : start + self.level_channels[level]]
            _, in_height, in_width, _ = ops.shape(x)
            ry, rx = height // in_height, width // in_width
            if isinstance(ry, int) and height == ry * in_height and width == rx * in_width \
                    and step % ry == 0 and rows % ry == 0:
                cells = ops.matmul(_take_rows(x, row_start // ry, rows // ry, axis=1), feature_kernel)
                # 5-D, one side broadcast: what every backend's add supports
                cells = ops.reshape(cells, (-1, 1, in_width, 1, units))
                total = ops.reshape(total, (-1, ry, in_width, rx, units)) + cells
                total = ops.reshape(total, (-1, rows, width, units))
                continue
            if not (isinstance(height, int) and rows < height):
                projection = ops.matmul(x, feature_kernel)
            else:  # a block: project the span of level rows any block of `rows` reads, then pick its rows
                span = min(in_height, -(-rows * in_height // height) + 1)
                first = (2 * row_start + 1) * in_height // (2 * height)
                first = min(first, in_height - span) if isinstance(first, int) else ops.minimum(first, in_height - span)
                index, _ = nearest_cell_axis(in_height, height)
                projection = ops.matmul(_take_rows(x, first, span, axis=1), feature_kernel)
                projection = ops.take(projection, _take_rows(index, row_start, rows, axis=0) - first, axis=1)
            total = total + nearest_cell(projection, (rows, width))[0]
        return total

    def _mlp(self, x, layers, training):
        """The MLP after the first layer's pre-activations `x`."""
        for i, norm in enumerate(self.norms):
            if i > 0:
                kernel, bias = layers[i]
                x = ops.matmul(x, kernel) + bias
            if not self._folds(training):
                x = norm(x, training=training)
            x = ops.relu(x)
        return self.classifier(x)

    def call(self, inputs, size=None, training=None):
        if size is None:
            size = tuple(inputs[0].shape[1:3])
            if None in size:
                size = tuple(ops.shape(inputs[0])[1:3])
        layers = self._linear_layers(training)
        kernel, bias = layers[0]
        static = static_size(size)
        if static is None:  # sizes unknown while tracing: one block
            pre = self._first_layer(inputs, size, 0, size[0], kernel, bias, size[0], training)
            return self._mlp(pre, layers, training)
        height, width = static
        rows = height
        if not training and height * width > self.chunk_size:
            rows = max(1, self.chunk_size // width)
            # whole cells of the coarsest level that divides the output, so it broadcasts
            ratios = [height // n for n in (x.shape[1] for x in inputs) if n and height % n == 0]
            if ratios and rows >= max(ratios):
                rows -= rows % max(ratios)

        def block(row_start, count):
            pre = self._first_layer(inputs, static, row_start, count, kernel, bias, rows, training)
            return self._mlp(pre, layers, training)

        return map_row_blocks(block, height, rows)

    def compute_output_shape(self, input_shape):
        first = input_shape[0]
        return (first[0], first[1], first[2], self.num_classes)

    def compute_output_spec(self, inputs, size=None, training=None):
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        if size is not None:
            shape = (shape[0], size[0], size[1], shape[3])
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "pos_dim": self.pos_dim,
            "hidden_units": list(self.hidden_units),
            "chunk_size": self.chunk_size,
        }


def _take_rows(x, start, count, axis):
    """`count` entries of `x` from `start` along `axis`; `start` an int or a traced scalar."""
    if isinstance(start, int):
        return x[(slice(None),) * axis + (slice(start, start + count),)]
    begin = [0] * len(x.shape)
    begin[axis] = start
    shape = list(x.shape)
    shape[axis] = count
    return ops.slice(x, begin, shape)
