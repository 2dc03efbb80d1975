"""The layers of RSP (Bai et al.): the relational semantics extractor and propagator."""

import math

import keras
from keras import ops

from keras_segup.layers.conv2d import Conv2D
from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.validation import check_inputs
from keras_segup.ops import l2_normalize
from keras_segup.ops import nearest_cell


MAX_SCALE = 100.0  # the cosine logits' temperature bound, as Swin Transformer V2
OUTSIDE_MARGIN = 20.0  # how far below every inside logit the outside positions' lies


@keras.saving.register_keras_serializable(package="keras_segup")
class RelationalSemanticsExtractor(keras.layers.Layer):
    """Relational Semantics Extractor (RSE; Bai et al. 2021, arXiv 2106.01744).

    A cross-scale pixel-to-region relation: each pixel of the low-level map
    (the query) aggregates context from the `k x k` region of the adjacent
    high-level map around its corresponding position, in the style of
    Local Relation Networks. No public code exists; the choices (see
    docs/rsp.md for the reasons):

    - query `q = W_q low`, key `k = W_k high`, value `v = W_v high`: 1x1
      convolutions with bias; `v` keeps the high map's channels.
    - corresponding position: the high-level cell nearest to the low-level
      cell centre (`keras_segup.ops.nearest_cell`), so any size ratio works.
    - region: the `k x k` window around it, zero-padded; positions outside
      the map are masked out of the softmax (by a finite logit 20 below any
      inside one: a weight under e^-20 of theirs, which int8 can hold).
    - relation: scaled cosine similarity per head (as Swin Transformer V2)
      plus a learned embedding of the relative offset (one scalar per offset
      and head, initialised to 0), softmax over the region:

          a[n] = softmax_n(s_g cos(q_g, k_g[n]) + e_g[n])
          out_g = sum_n a[n] v_g[n]

      `s_g = exp(min(log_scale_g, log 100))` is learned per head, starting
      at `initial_scale`. Bounded logits keep the softmax's sensitivity
      independent of the feature scale: with dot products, logits grow
      with the square of the features, and float32 rounding was amplified
      about 10x through the three propagators of the RSP head.

    Normalisation, logits and softmax run in float32 under mixed precision.

    Args:
        key_channels: channels of queries and keys (split over the heads).
        num_heads: relation heads; the value channels are split likewise.
        kernel_size: odd region size `k`.
        initial_scale: initial temperature `s_g` of the cosine logits.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[low, high]`, (B, H, W, Cl) and (B, h, w, Ch); h, w may be
            any size (typically H/2, W/2).

    Returns:
        Context (B, H, W, Ch).

    Example:
    >>> rse = RelationalSemanticsExtractor(32, num_heads=4)
    >>> low, high = keras.ops.ones((1, 33, 49, 128)), keras.ops.ones((1, 17, 25, 128))
    >>> rse([low, high]).shape
    (1, 33, 49, 128)
    """

    def __init__(self, key_channels=32, num_heads=4, kernel_size=3, initial_scale=10.0, **kwargs):
        super().__init__(**kwargs)
        if key_channels % num_heads:
            raise ValueError(
                f"`key_channels` ({key_channels}) must be divisible by "
                f"`num_heads` ({num_heads})."
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be an odd int >= 1; got {kernel_size}.")
        if not 0 < initial_scale <= MAX_SCALE:
            raise ValueError(f"`initial_scale` must be in (0, {MAX_SCALE}]; got {initial_scale}.")
        self.key_channels = key_channels
        self.num_heads = num_heads
        self.kernel_size = kernel_size
        self.initial_scale = initial_scale
        dtype = self.dtype_policy
        self.query_conv = Conv2D(key_channels, 1, dtype=dtype, name="query_conv")
        self.key_conv = Conv2D(key_channels, 1, dtype=dtype, name="key_conv")
        self.value_conv = None

    def build(self, input_shape):
        low, high = check_inputs(self, input_shape, 2)
        if high[-1] % self.num_heads:
            raise ValueError(
                f"The high-level map's channels ({high[-1]}) must be divisible by "
                f"`num_heads` ({self.num_heads})."
            )
        self.value_conv = Conv2D(
            high[-1], 1, dtype=self.dtype_policy, name="value_conv"
        )
        self.query_conv.build(low)
        self.key_conv.build(high)
        self.value_conv.build(high)
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(self.kernel_size**2, self.num_heads),
            initializer="zeros",
        )
        self.log_scale = self.add_weight(
            name="log_scale",
            shape=(self.num_heads,),
            initializer=keras.initializers.Constant(math.log(self.initial_scale)),
        )
        self.input_spec = [
            keras.InputSpec(ndim=4, axes={-1: low[-1]}),
            keras.InputSpec(ndim=4, axes={-1: high[-1]}),
        ]

    def call(self, inputs):
        low, high = inputs
        batch, height, width, _ = ops.shape(low)
        heads = self.num_heads
        query = self._unit_heads(self.query_conv(low))  # (B, H, W, G, d)
        key = ops.reshape(self._unit_heads(self.key_conv(high)), (*ops.shape(high)[:3], -1))
        value = self.value_conv(high)
        value_channels = value.shape[-1]
        # a ones channel marks positions inside the map once zero-padded
        keys = ops.concatenate([key, ops.ones_like(key[..., :1])], axis=-1)

        # two passes over the k*k region offsets, each reading one shifted
        # high-level map at every low-level pixel's cell: the (H, W, k*k, C)
        # windows are never held in memory (first keys and logits, then values)
        logits = []
        scale = ops.exp(ops.minimum(ops.cast(self.log_scale, "float32"), math.log(MAX_SCALE)))
        embedding = ops.cast(self.position_embedding, "float32")
        # positions outside the map get a finite logit OUTSIDE_MARGIN below any possible one
        # (cosines lie in [-1, 1]): weight below e^-20 of every inside position's, and a
        # value int8 TFLite can quantize (a -inf constant aborts its runtime)
        outside = ops.min(embedding) - ops.max(scale) - OUTSIDE_MARGIN
        for n, window in enumerate(self._region(keys, (height, width))):
            key_window = ops.reshape(window[..., :-1], (batch, height, width, heads, -1))
            # products and sums over the small head axis, no batched matmul (TFLite)
            cosine = ops.sum(query * key_window, axis=-1)  # (B, H, W, G)
            logit = cosine * scale + embedding[n]
            logits.append(ops.where(window[..., -1:] > 0, logit, outside))
        # the softmax over the region on the last axis of a rank-4 tensor (B, H*W, G, k*k):
        # TFLite's int16 SOFTMAX takes at most 4 dimensions, and no transpose is needed
        logits = ops.reshape(ops.stack(logits, axis=-1), (batch, height * width, heads, -1))
        attention = ops.cast(ops.softmax(logits, axis=-1), value.dtype)
        context = 0
        for n, window in enumerate(self._region(value, (height, width))):
            window = ops.reshape(window, (batch, height, width, heads, value_channels // heads))
            weight = ops.reshape(attention[..., n], (batch, height, width, heads, 1))
            context = context + weight * window
        return ops.reshape(context, (batch, height, width, value_channels))

    def _region(self, x, size):
        """For each of the k*k region offsets, `x` shifted by it (zero-padded) at each target cell's nearest cell.

        Element `n = dy * k + dx` is the order of `keras_segup.ops.extract_windows`.
        """
        _, h, w, _ = ops.shape(x)
        pad = self.kernel_size // 2
        padded = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        for dy in range(self.kernel_size):
            for dx in range(self.kernel_size):
                yield nearest_cell(padded[:, dy : dy + h, dx : dx + w], size)[0]

    def _unit_heads(self, x):
        """(B, H, W, G*d) -> (B, H, W, G, d) in float32, unit length per head."""
        batch, height, width, _ = ops.shape(x)
        # rank 4 while normalising: TFLite's converter fuses this into
        # L2_NORMALIZATION, which takes at most 4 dimensions
        x = ops.reshape(ops.cast(x, "float32"), (batch, height * width, self.num_heads, -1))
        return ops.reshape(l2_normalize(x), (batch, height, width, self.num_heads, -1))

    def compute_output_shape(self, input_shape):
        low, high = input_shape
        return (low[0], low[1], low[2], high[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "key_channels": self.key_channels,
            "num_heads": self.num_heads,
            "kernel_size": self.kernel_size,
            "initial_scale": self.initial_scale,
        }


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
