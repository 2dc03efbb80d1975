"""ONNX export through tf2onnx, checked with `onnx.checker` and onnxruntime."""

import numpy as np

from keras_segup.export.common import ExportError
from keras_segup.export.common import ExportRefused
from keras_segup.export.common import check_common
from keras_segup.export.common import export_atomically
from keras_segup.export.common import serving_function
from keras_segup.utils import compat

# tf2onnx 1.17 writes opsets up to 18; below 13 it cannot express our graphs' ops
OPSETS = range(13, 19)


def convert_onnx(model, destination, options):
    """Converts a TensorFlow-backend model to an `.onnx` file (no verification)."""
    import onnx
    import tf2onnx

    compat.patch_tf2onnx()  # tf2onnx 1.17 under numpy 2
    serve = serving_function(model, options["input_size"], options["output"],
                             getattr(model, "onnx_dynamic_size", False))
    try:
        tf2onnx.convert.from_function(
            serve, input_signature=serve.input_signature, opset=options["opset"], output_path=str(destination)
        )
        onnx.checker.check_model(str(destination), full_check=True)
    except Exception as error:  # tf2onnx and onnx raise several unrelated types
        raise ExportError(f"ONNX conversion failed at opset {options['opset']}: {error}") from None


def onnx_runner(path):
    """`run(images) -> outputs` with onnxruntime (CPU) for an `.onnx` file.

    The file takes one image at a time; `run` takes (N, H, W, 3) and
    returns the N outputs stacked.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(images):
        images = np.asarray(images, np.float32)
        return np.concatenate([session.run(None, {name: image[None]})[0] for image in images])

    return run


def export_onnx(model, path, input_size, opset=17, output="logits"):
    """Exports a segmenter to ONNX and checks it against Keras before returning.

    Works from any backend: the graph is traced under TensorFlow and
    converted with tf2onnx (in a subprocess when the model lives under JAX
    or torch). The file takes raw RGB pixels (1, H, W, 3) float32 in 0..255
    and returns logits (1, H, W, C) or an int32 class map (1, H, W); IFA
    files take any H and W (`Segmenter.onnx_dynamic_size`). It passes
    `onnx.checker` and must match Keras in onnxruntime (logits within
    1e-3, or 1e-5 of the largest |logit| beyond 100; 99.99% identical class
    pixels); otherwise no file is written.

    Args:
        model: a segmenter (any backend).
        path: the `.onnx` file to write.
        input_size: static `(height, width)`.
        opset: ONNX opset, 13..18.
        output: `"logits"` or `"classes"`.

    Returns:
        dict: `class_agreement`, `max_abs_diff` (logits), `path`, `bytes`,
        `converted_by`.

    Example:
    ```python
    export_onnx(model, "fanet.onnx", (1024, 2048), output="classes")
    ```
    """
    if opset not in OPSETS:
        raise ExportRefused(
            f"Opset {opset} is not supported: tf2onnx 1.17 expresses our graphs with opsets "
            f"{OPSETS.start}..{OPSETS.stop - 1}."
        )
    options = {"input_size": check_common(input_size, output), "output": output, "opset": opset}
    return export_atomically(model, path, "onnx", convert_onnx, onnx_runner, options)
