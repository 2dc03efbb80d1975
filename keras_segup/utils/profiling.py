"""Measuring models: wall-clock medians, XLA's FLOP count, calibrated random weights."""

import statistics
import time

import keras
import numpy as np

from keras_segup.utils import compat


def sync(x):
    """Waits for asynchronous backends (JAX) to finish computing `x`; returns `x`."""
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(x)
    return x


def time_call(fn, repeats, warmup=2):
    """Median seconds of `fn()` over `repeats` runs after `warmup` runs.

    Example:
    ```python
    seconds = time_call(lambda: model.predict_on_batch(x), repeats=5)
    ```
    """
    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def jax_flops(model, inputs):
    """FLOPs of one inference call (XLA's cost analysis, 2 per multiply-add); JAX backend only.

    Args:
        model: a built Keras model.
        inputs: the list of input arrays of one call.

    Returns:
        The FLOP count as a float; nothing is run.
    """
    import jax

    def forward(trainable, non_trainable, *arrays):
        arrays = list(arrays) if len(arrays) > 1 else arrays[0]
        return model.stateless_call(trainable, non_trainable, arrays)[0]

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    analysis = jax.jit(forward).lower(trainable, non_trainable, *inputs).cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis["flops"])


def calibrate_batch_norm(model, images):
    """Sets every batch norm's statistics to those of `images`, so that random
    weights give activations and logits of a trained network's scale.

    `GlobalContext`'s norm of pooled 1x1 maps keeps its initial statistics:
    a few images' variance is no estimate of it.

    Args:
        model: a segmenter.
        images: float32 (B, H, W, 3) in 0..255, B >= 2.
    """
    from keras_segup.layers.global_context import GlobalContext

    layers = compat.sublayers(model)
    pooled = {id(norm) for context in layers if isinstance(context, GlobalContext)
              for norm in compat.sublayers(context)}
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:  # 0: statistics := this batch's; 1: unchanged
        layer.momentum = 1.0 if id(layer) in pooled else 0.0
    model(np.asarray(images, np.float32), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
