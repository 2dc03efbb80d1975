"""The latency of a model, with every fact of how it was measured."""

import keras
import numpy as np

from keras_segup.utils import compat
from keras_segup.utils.machine import describe_machine
from keras_segup.utils.machine import machine_facts
from keras_segup.utils.profiling import time_calls


def batch_norm_folding(model):
    """How many of the model's batch norms run folded into the layer before them at inference.

    The heads' `ConvBNAct` blocks and IFA's MLP fold theirs
    (`keras_segup.ops.fold_batch_norm`), and so do the papers' ResNets
    (`keras_segup.layers.Conv2D.fold`); other backbones' batch norms (the
    keras-hub ones) run as a separate pass.

    Returns:
        `(folded, total)` counts of `BatchNormalization` layers.

    Example:
    >>> from keras_segup.layers import ConvBNAct
    >>> block = ConvBNAct(8, 3)
    >>> _ = block(keras.ops.ones((1, 8, 8, 4)))
    >>> batch_norm_folding(block)
    (1, 1)
    """
    from keras_segup.layers.batch_normalization import BatchNormalization
    from keras_segup.layers.conv_bn_act import ConvBNAct
    from keras_segup.models.ifa.ifa_layers import ImplicitFeatureAlignment

    layers = compat.sublayers(model)
    norms = {id(layer) for layer in layers if isinstance(layer, keras.layers.BatchNormalization)}
    folded = {
        id(norm)
        for layer in layers if isinstance(layer, (ConvBNAct, ImplicitFeatureAlignment))
        for norm in compat.sublayers(layer) if id(norm) in norms
    }
    folded |= {
        id(layer)
        for layer in layers
        if isinstance(layer, BatchNormalization) and layer.folding_conv is not None
        and layer.folding_conv.folds_batch_norm(training=False)
    }
    return len(folded), len(norms)


def latency(model, input_size, batch_size=1, repeats=5, warmup=2):
    """Wall time of `predict_on_batch` on random pixels, with the method of the measurement.

    `predict_on_batch` compiles the model (XLA on JAX, `tf.function` on
    TensorFlow; eager on torch) during the warm-up calls and returns numpy,
    so each timed call includes the transfer of the logits to the host.

    Args:
        model: the segmenter.
        input_size: `(height, width)`.
        batch_size: images per call.
        repeats: timed calls.
        warmup: untimed calls first (tracing and compilation).

    Returns:
        dict: `median_ms` per call, `fps` (images per second at the
        median), `min_ms`, `max_ms`, `iqr_ms`, `times_ms`, `repeats`,
        `warmup`, `batch_size`, `input_size`, `precision` (the model's
        dtype policy), `batch_norm_folded` and `batch_norms`, and
        `machine` (`keras_segup.utils.machine.machine_facts`).

    Example:
    ```python
    result = latency(model, (1024, 2048), repeats=10)
    print(describe_latency(result))
    ```
    """
    images = np.random.default_rng(0).uniform(0, 255, (batch_size, *input_size, 3)).astype(np.float32)
    timing = time_calls(lambda: model.predict_on_batch(images), repeats, warmup)
    folded, norms = batch_norm_folding(model)
    return {
        **timing,
        "fps": batch_size * 1e3 / timing["median_ms"],
        "batch_size": batch_size,
        "input_size": list(input_size),
        "precision": model.dtype_policy.name,
        "batch_norm_folded": folded,
        "batch_norms": norms,
        "machine": machine_facts(),
    }


def describe_latency(result, name="model"):
    """The figures of `latency` with their method, as printable lines."""
    height, width = result["input_size"]
    iqr = "n/a under 4 calls" if result["iqr_ms"] is None else f"{result['iqr_ms']:.1f} ms"
    return "\n".join([
        f"{name}: {result['median_ms']:.1f} ms per call = {result['fps']:.2f} images/s "
        f"(batch {result['batch_size']}, {height}x{width}, {result['precision']})",
        f"  median of {result['repeats']} timed calls after {result['warmup']} warm-up calls; "
        f"min {result['min_ms']:.1f}, max {result['max_ms']:.1f} ms, interquartile range {iqr}",
        f"  predict_on_batch, logits returned to the host; batch norm folded into the layer before "
        f"it in {result['batch_norm_folded']} of {result['batch_norms']} (the rest run as their own pass)",
        f"  machine: {describe_machine(result['machine'])}",
    ])
