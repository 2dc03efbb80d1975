"""TFLite (LiteRT) export: float32, float16 or full-integer int8, builtin ops only."""

import warnings

import numpy as np

from keras_segup.export.common import ExportError
from keras_segup.export.common import ExportRefused
from keras_segup.export.common import as_frames
from keras_segup.export.common import check_common
from keras_segup.export.common import export_atomically
from keras_segup.export.common import serving_function
from keras_segup.utils import compat

QUANTIZATIONS = (None, "float16", "int8")


def convert_tflite(model, destination, options):
    """Converts a TensorFlow-backend model to a `.tflite` file (no verification)."""
    import tensorflow as tf

    serve = serving_function(model, options["input_size"], options["output"])
    # weights become constants: the file holds no (uninitialised) resource variables
    frozen = compat.convert_variables_to_constants(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops
    quantization = options.get("quantization")
    if quantization:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        frames = options["representative_data"]
        converter.representative_dataset = lambda: ([frame[None]] for frame in frames)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises several unrelated types
        raise ExportError(f"TFLite conversion failed (builtin ops only): {error}") from None
    with open(destination, "wb") as handle:
        handle.write(flatbuffer)


def tflite_runner(path, num_threads=None):
    """`run(images) -> output` with the TFLite interpreter for a `.tflite` file.

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads; None keeps its default, one thread,
            which the export check uses (threads change the float32 sums).

    Raises:
        ExportError: if the file uses non-builtin (Flex) ops.
    """
    import tensorflow as tf

    with warnings.catch_warnings():  # tf.lite.Interpreter announces LiteRT's own package
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
    flex = sorted({op["op_name"] for op in interpreter._get_ops_details() if op["op_name"].startswith("Flex")})
    if flex:
        raise ExportError(f"The TFLite file needs select TF ops {flex}; it must use builtins only.")
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def run(images):
        interpreter.set_tensor(source, np.asarray(images, np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return run


def export_tflite(model, path, input_size, quantization=None, representative_data=None, output="logits"):
    """Exports a segmenter to TFLite and checks it against Keras before returning.

    Works from any backend: under JAX and torch the model is saved as
    `.keras` and converted under TensorFlow in a subprocess. The file
    takes raw RGB pixels (1, H, W, 3) float32 in 0..255 (normalisation is
    inside) and returns logits (1, H, W, C) or, with `output="classes"`, an
    int32 class map (1, H, W). Only builtin ops are used (no Flex). The
    exported model is run on a synthetic street scene (and the first
    representative frames) and must match Keras: float32 logits within
    1e-3 (1e-5 of the largest |logit| beyond 100) and 99.99% identical
    class pixels; float16 99.9%; int8 97%.
    Otherwise, or on any failure, no file is written.

    Args:
        model: a segmenter (any backend).
        path: the `.tflite` file to write.
        input_size: static `(height, width)`.
        quantization: None (float32), `"float16"` or `"int8"` (full
            integer, calibrated on `representative_data`).
        representative_data: for int8: images (N, H, W, 3) in 0..255, or an
            iterable of image batches / `(images, labels)` batches (e.g. a
            `keras_segup.data` dataset `.take(50)`); resized to `input_size`.
        output: `"logits"` or `"classes"`.

    Returns:
        dict: `class_agreement`, `max_abs_diff` (float32 logits), `path`,
        `bytes`, `converted_by`.

    Example:
    ```python
    export_tflite(model, "fanet.tflite", (512, 1024), output="classes")
    ```
    """
    if quantization not in QUANTIZATIONS:
        raise ExportRefused(f"Unknown quantization {quantization!r}; choose one of {QUANTIZATIONS}.")
    if quantization == "int8" and representative_data is None:
        raise ExportRefused(
            "int8 quantization calibrates on real inputs: pass representative_data "
            "(a few dozen training images)."
        )
    input_size = check_common(input_size, output)
    options = {
        "input_size": input_size,
        "output": output,
        "quantization": quantization,
        "representative_data": as_frames(representative_data, input_size) if quantization == "int8" else None,
    }
    return export_atomically(model, path, "tflite", convert_tflite, tflite_runner, options)
