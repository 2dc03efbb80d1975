"""Measuring models: wall-clock statistics, peak memory, XLA's FLOP count, calibrated random weights."""

import os
import statistics
import threading
import time

import keras
import numpy as np

from keras_segup.ops.blocks import unrolled_blocks
from keras_segup.utils import compat


def sync(x):
    """Waits for asynchronous backends (JAX) to finish computing `x`; returns `x`."""
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(x)
    return x


def time_calls(fn, repeats, warmup=2):
    """Wall-clock statistics of `fn()` over `repeats` runs after `warmup` runs.

    Each run waits for the result (`sync`), so asynchronous backends are
    timed to completion.

    Args:
        fn: the call to time.
        repeats: timed runs, >= 1.
        warmup: untimed runs first (tracing, compilation, caches).

    Returns:
        dict: `median_ms`, `min_ms`, `max_ms`, `iqr_ms` (interquartile
        range; None under 4 runs), `repeats`, `warmup`, `times_ms` (every run).

    Example:
    >>> sorted(time_calls(lambda: 1 + 1, repeats=3))[:3]
    ['iqr_ms', 'max_ms', 'median_ms']
    """
    for _ in range(warmup):
        sync(fn())
    times = [timed(fn) for _ in range(repeats)]
    return summarize_times(times, warmup)


def timed(fn):
    """Milliseconds of one `fn()`, waiting for its result."""
    start = time.perf_counter()
    sync(fn())
    return (time.perf_counter() - start) * 1e3


def summarize_times(times, warmup):
    """`time_calls`'s statistics of the run times `times` (ms)."""
    repeats = len(times)
    quartiles = statistics.quantiles(times, n=4) if len(times) >= 4 else None
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "iqr_ms": quartiles and quartiles[2] - quartiles[0],
        "repeats": repeats,
        "warmup": warmup,
        "times_ms": times,
    }


def time_call(fn, repeats, warmup=2):
    """Median seconds of `fn()` over `repeats` runs after `warmup` runs.

    Example:
    ```python
    seconds = time_call(lambda: model.predict_on_batch(x), repeats=5)
    ```
    """
    return time_calls(fn, repeats, warmup)["median_ms"] / 1e3


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory(fn, interval=0.002):
    """Peak resident memory of the process during `fn()`, above what it held before.

    Sampled every `interval` seconds from `/proc/self/statm` (Linux), so
    it sees every allocator (numpy, XLA, torch, TensorFlow) but can miss a
    spike shorter than the interval; host memory only.

    Returns:
        `(extra_bytes, result)`; `extra_bytes` is None where /proc is absent.

    Example:
    >>> extra, value = peak_memory(lambda: sum(range(1000)))
    >>> value
    499500
    """
    if not os.path.exists("/proc/self/statm"):
        return None, fn()
    before = _resident_bytes()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = sync(fn())
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _resident_bytes())
    return peak[0] - before, result


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
    with unrolled_blocks():  # the cost analysis counts a loop body once
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
