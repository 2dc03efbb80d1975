"""The one place where keras_segup reaches into private APIs of its dependencies.

Each shim names the private symbol it wraps, so a version bump that moves
one breaks here, with the name, and nowhere else.
"""

import contextlib
import os
import sys


def hub_preset_file(handle, filename):
    """A local copy of `filename` of a `hf://` or `kaggle://` preset (keras-hub's downloader).

    Wraps `keras_hub.src.utils.preset_utils.get_file`.
    """
    from keras_hub.src.utils.preset_utils import get_file

    return get_file(handle, filename)


def deeplab_v3_spatial_pyramid_pooling():
    """keras-hub's ASPP layer class (`keras_hub.src.models.deeplab_v3.deeplab_v3_layers`)."""
    from keras_hub.src.models.deeplab_v3.deeplab_v3_layers import SpatialPyramidPooling

    return SpatialPyramidPooling


def patch_tf2onnx():
    """Keras's numpy-2 fixes for tf2onnx (`keras.src.export.tf2onnx_lib.patch_tf2onnx`)."""
    from keras.src.export.tf2onnx_lib import patch_tf2onnx as patch

    patch()


def convert_variables_to_constants(concrete_function):
    """A frozen graph of a concrete function (`tensorflow.python.framework.convert_to_constants`)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(concrete_function)


def sublayers(model):
    """Every layer inside `model`, recursively (`keras.Layer._flatten_layers`)."""
    return list(model._flatten_layers())


def direct_sublayers(layer):
    """The layers `layer` holds itself, not theirs (`keras.Layer._flatten_layers`)."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def consumers(layer):
    """The operations of functional models that take `layer`'s output (`Layer._outbound_nodes`);
    empty for a layer called in a subclassed model's `call`."""
    return [node.operation for node in layer._outbound_nodes]


def require_tensorflow(feature):
    """Raises a clear `ImportError` naming `feature` when TensorFlow is not installed.

    TensorFlow's devices are initialised here, with its native start-up
    lines (CUDA probing) silenced (`native_logs_silenced`).
    """
    try:
        with native_logs_silenced():
            import tensorflow as tf

            tf.config.list_physical_devices()
    except ImportError:
        raise ImportError(
            f"{feature} needs TensorFlow, which is not installed: pip install tensorflow==2.21.0 "
            "(the models, layers, ops and inference work without it)."
        ) from None


@contextlib.contextmanager
def native_logs_silenced():
    """Silences what native libraries write to file descriptor 2 while loading.

    TensorFlow 2.21 logs through absl before its logging is initialised, so
    `TF_CPP_MIN_LOG_LEVEL` no longer hides its start-up lines (oneDNN, CUDA
    probing). Python errors raised inside still propagate and print after.
    `KERAS_SEGUP_NATIVE_LOGS=1` keeps the lines.
    """
    if os.environ.get("KERAS_SEGUP_NATIVE_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
