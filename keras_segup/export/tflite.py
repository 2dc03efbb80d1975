"""TFLite (LiteRT) export: float32, float16, dynamic-range, full-integer int8 or 16x8, builtin ops only."""

import csv
import io
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from keras_segup.export.common import ExportError
from keras_segup.export.common import ExportRefused
from keras_segup.export.common import as_frames
from keras_segup.export.common import check_common
from keras_segup.export.common import export_atomically
from keras_segup.export.common import serving_function
from keras_segup.utils import compat

QUANTIZATIONS = (None, "float16", "dynamic_range", "int8", "int16x8")
# the quantizations calibrated on representative frames
CALIBRATED = ("int8", "int16x8")


def _most_lossy_tensors(converter, dataset, count):
    """The `count` tensors whose int8 quantization loses most (RMSE over the scale).

    TFLite's QuantizationDebugger runs the quantized model beside the float
    one on the representative frames and records each quantized tensor's
    error; dividing its RMSE by the quantization step ranks the layers by
    how many steps they are off.
    """
    import tensorflow as tf

    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = list(csv.DictReader(io.StringIO(dump.getvalue())))
    ranked = sorted(
        (row for row in rows if float(row["scale"]) > 0),
        key=lambda row: np.sqrt(float(row["mean_squared_error"])) / float(row["scale"]),
        reverse=True,
    )
    return [row["tensor_name"] for row in ranked[:count]]


def _interpreter(**kwargs):
    """`tf.lite.Interpreter(**kwargs)`, without its warning that announces LiteRT's own package."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(**kwargs)


def _check_kept_ops(flatbuffer, names):
    """`ExportError` when `keep_float` names an op type the file does not have."""
    present = {op["op_name"] for op in _interpreter(model_content=flatbuffer)._get_ops_details()}
    missing = [name for name in names if name not in present]
    if missing:
        raise ExportError(
            f"keep_float names {missing}, which this model has none of; its TFLite ops are {sorted(present)}."
        )


def _check_keep_float(keep_float, quantization):
    """`keep_float` as an int or a tuple of op names; `ExportRefused` when it is malformed or misused."""
    if isinstance(keep_float, (list, tuple)) and keep_float and all(
        isinstance(name, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in keep_float
    ):
        keep_float = tuple(keep_float)
    elif isinstance(keep_float, bool) or not isinstance(keep_float, int) or keep_float < 0:
        raise ExportRefused(
            "keep_float must be a number of layers >= 0 or TFLite op names such as ('BATCH_MATMUL',); "
            f"got {keep_float!r}."
        )
    if keep_float and quantization != "int8":
        raise ExportRefused(
            f"keep_float selects layers to keep out of int8; quantization is {quantization!r}. "
            "Use it with quantization='int8'."
        )
    return keep_float


def convert_tflite(model, destination, options):
    """Converts a TensorFlow-backend model to a `.tflite` file (no verification)."""
    import tensorflow as tf

    serve = serving_function(model, options["input_size"], options["output"])
    # weights become constants: the file holds no (uninitialised) resource variables
    frozen = compat.convert_variables_to_constants(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops
    quantization = options.get("quantization")
    if quantization:  # dynamic range alone: int8 weights, float activations
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization in CALIBRATED:
        frames = options["representative_data"]
        converter.representative_dataset = lambda: ([frame[None]] for frame in frames)
        converter.target_spec.supported_ops = (
            [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if quantization == "int8"  # int16 activations lack kernels for a few ops: those stay float
            else [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                  tf.lite.OpsSet.TFLITE_BUILTINS]
        )
    keep_float = options.get("keep_float") or 0
    if keep_float:  # selective: the most lossy layers, or the named ops, stay float
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS
        ]
        try:
            if isinstance(keep_float, int):
                kept = _most_lossy_tensors(converter, converter.representative_dataset, keep_float)
                debug_options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=kept)
            else:
                debug_options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(keep_float))
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=converter.representative_dataset, debug_options=debug_options
            )
            flatbuffer = debugger.get_nondebug_quantized_model()
        except Exception as error:  # the debugger raises several unrelated types
            raise ExportError(f"Selective TFLite quantization failed: {error}") from None
        if not isinstance(keep_float, int):
            _check_kept_ops(flatbuffer, keep_float)
        with open(destination, "wb") as handle:
            handle.write(flatbuffer)
        return
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises several unrelated types
        raise ExportError(f"TFLite conversion failed (builtin ops only): {error}") from None
    with open(destination, "wb") as handle:
        handle.write(flatbuffer)


def tflite_runner(path, num_threads=None):
    """`run(images) -> outputs` with the TFLite interpreter for a `.tflite` file.

    The file takes one image at a time; `run` takes (N, H, W, 3) and
    returns the N outputs stacked.

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads; None keeps its default, one thread,
            which the export check uses (threads change the float32 sums).

    Raises:
        ExportError: if the file uses non-builtin (Flex) ops, or the
            interpreter cannot prepare or run it.
    """
    interpreter = _interpreter(model_path=str(path), num_threads=num_threads)
    flex = sorted({op["op_name"] for op in interpreter._get_ops_details() if op["op_name"].startswith("Flex")})
    if flex:
        raise ExportError(f"The TFLite file needs select TF ops {flex}; it must use builtins only.")
    try:
        interpreter.allocate_tensors()
    except RuntimeError as error:  # e.g. XNNPACK cannot prepare a quantized op
        raise ExportError(f"The TFLite interpreter cannot prepare this file: {error}") from None
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def run(images):
        outputs = []
        for image in np.asarray(images, np.float32):
            interpreter.set_tensor(source, image[None])
            try:
                interpreter.invoke()
            except RuntimeError as error:
                raise ExportError(f"The TFLite interpreter cannot run this file: {error}") from None
            outputs.append(interpreter.get_tensor(target).copy())
        return np.concatenate(outputs)

    return run


# runs a .tflite file on the images of an .npy file and saves its outputs; a crash is its exit code
_RUN_IN_CHILD = """
import sys
import numpy as np
import tensorflow as tf
interpreter = tf.lite.Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
source = interpreter.get_input_details()[0]["index"]
target = interpreter.get_output_details()[0]["index"]
outputs = []
for image in np.load(sys.argv[2]):
    interpreter.set_tensor(source, image[None])
    interpreter.invoke()
    outputs.append(interpreter.get_tensor(target))
np.save(sys.argv[3], np.concatenate(outputs))
"""


def isolated_runner(path):
    """`run(images) -> outputs` like `tflite_runner`, but each call runs in a child process.

    One child runs all the images of a call, so a call costs one
    TensorFlow import however many images it has.

    Some quantized files crash the TFLite runtime, while it prepares them or
    on some inputs only (int8 files with a -inf constant abort it): a native
    crash that no Python code can catch. In a child process it becomes an
    `ExportError` that says so, and this process lives on.

    Raises:
        ExportError: when the child fails or is killed.
    """

    def run(images):
        with tempfile.TemporaryDirectory() as tmp:
            inputs, outputs = Path(tmp) / "images.npy", Path(tmp) / "outputs.npy"
            np.save(inputs, np.asarray(images, np.float32))
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            command = [sys.executable, "-c", _RUN_IN_CHILD, str(path), str(inputs), str(outputs)]
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                lines = [  # the runtime's own message, not the interpreter's deprecation warning
                    line for line in result.stderr.strip().splitlines()
                    if line.strip() and not line.startswith(("INFO:", "WARNING:", " "))
                    and "warn" not in line.lower() and not re.match(r"[IW]\d{4} ", line)
                ]
                crash = f"killed by signal {-result.returncode}" if result.returncode < 0 else "failed"
                detail = f": {lines[-1]}" if lines else ""
                raise ExportError(
                    f"The TFLite runtime cannot run this file (run in a child process, it {crash}{detail}); "
                    "choose another quantization, or keep its failing layers in float (keep_float)."
                )
            return np.load(outputs)

    return run


def export_tflite(
    model, path, input_size, quantization=None, representative_data=None, output="logits", keep_float=0
):
    """Exports a segmenter to TFLite and checks it against Keras before returning.

    Works from any backend: under JAX and torch the model is saved as
    `.keras` and converted under TensorFlow in a subprocess. The file
    takes raw RGB pixels (1, H, W, 3) float32 in 0..255 (normalisation is
    inside) and returns logits (1, H, W, C) or, with `output="classes"`, an
    int32 class map (1, H, W). Only builtin ops are used (no Flex). The
    exported model is run on a synthetic street scene (and the first
    representative frames) and must match Keras: float32 logits within
    1e-3 (1e-5 of the largest |logit| beyond 100) and 99.99% identical
    class pixels; float16 99.9%; dynamic-range, int8 and 16x8 97%.
    Otherwise, or on any failure, no file is written.

    Args:
        model: a segmenter (any backend).
        path: the `.tflite` file to write.
        input_size: static `(height, width)`.
        quantization: None (float32); `"float16"` (half the size);
            `"dynamic_range"` (int8 weights, float activations: a quarter
            of the size, no calibration); `"int8"` (full integer) or
            `"int16x8"` (int16 activations, int8 weights; ops without
            int16 kernels stay float), both calibrated on
            `representative_data`.
        representative_data: for int8 and 16x8: images (N, H, W, 3) in
            0..255, or an iterable of image batches / `(images, labels)`
            batches (e.g. a `keras_segup.data` dataset `.take(50)`);
            resized to `input_size`.
        output: `"logits"` or `"classes"`.
        keep_float: int8 only, selective quantization: a number N, to keep
            in float the N layers TFLite's QuantizationDebugger finds most
            lossy on `representative_data`; or TFLite op names, to keep
            every op of those types in float. `("BATCH_MATMUL",)` is the
            one that matters for attention heads: TFLite's int8
            BATCH_MATMUL of two activations loses most of the result
            (measured in docs/benchmarks.md).

    Returns:
        dict: `class_agreement`, `max_abs_diff` (float32 logits), `path`,
        `bytes`, `converted_by`.

    Example:
    ```python
    export_tflite(model, "fanet.tflite", (512, 1024), output="classes")
    export_tflite(model, "fanet_int8.tflite", (512, 1024), "int8", frames, keep_float=("BATCH_MATMUL",))
    ```
    """
    if quantization not in QUANTIZATIONS:
        raise ExportRefused(f"Unknown quantization {quantization!r}; choose one of {QUANTIZATIONS}.")
    if quantization in CALIBRATED and representative_data is None:
        raise ExportRefused(
            f"{quantization} quantization calibrates on real inputs: pass representative_data "
            "(a few dozen training images)."
        )
    keep_float = _check_keep_float(keep_float, quantization)
    input_size = check_common(input_size, output)
    options = {
        "input_size": input_size,
        "output": output,
        "quantization": quantization,
        "keep_float": keep_float,
        "representative_data": (
            as_frames(representative_data, input_size) if quantization in CALIBRATED else None
        ),
    }
    runner = isolated_runner if quantization in CALIBRATED else tflite_runner
    return export_atomically(model, path, "tflite", convert_tflite, runner, options)
