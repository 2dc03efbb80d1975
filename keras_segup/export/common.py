"""What TFLite and ONNX export share: argument checks, the TensorFlow serving
function, the TensorFlow subprocess for other backends, verification, atomic
writes."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from keras_segup.data.synthetic import scene
from keras_segup.ops import portable

OUTPUTS = ("logits", "classes")
# class-map agreement each precision must reach, and the float32 logit tolerance
MIN_AGREEMENT = {None: 0.9999, "float16": 0.999, "dynamic_range": 0.97, "int8": 0.97, "int16x8": 0.97}
# float32 exports: max |logit difference| <= 1e-3, or 1e-5 of the largest
# |logit| where logits exceed 100 (untrained networks: float32 rounding
# grows with the magnitude)
MAX_LOGIT_DIFF = 1e-3
MAX_RELATIVE_LOGIT_DIFF = 1e-5


class ExportError(ValueError):
    """An export that was refused or failed its check; no file is left behind."""


class ExportRefused(ExportError):
    """An export refused before any work: a bad argument (the command line exits 2)."""


def check_common(input_size, output):
    """`(height, width)` as ints; `ExportError` for a dynamic size or unknown output."""
    if output not in OUTPUTS:
        raise ExportRefused(f"Unknown output {output!r}; choose 'logits' or 'classes'.")
    if input_size is None or len(input_size) != 2 or any(n is None for n in input_size):
        raise ExportRefused(
            f"Exported models need a static input size (height, width); got {input_size}. "
            "Export once per deployment resolution, e.g. input_size=(512, 1024)."
        )
    height, width = (int(n) for n in input_size)
    if height < 32 or width < 32:
        raise ExportRefused(f"The input size {input_size} is too small; use at least 32x32.")
    return height, width


def serving_function(model, input_size, output, dynamic_size=False):
    """A `tf.function` of (1, H, W, 3) float32 pixels -> logits or int32 classes.

    With `dynamic_size` it is traced for any H and W, not `input_size`.

    Needs the TensorFlow backend. Classes use `top_k`, not `argmax`, whose
    float Bitcast breaks TFLite and tf2onnx; the gathers are traced in their
    portable form (`keras_segup.ops.portable`).
    """
    import tensorflow as tf

    size = (None, None) if dynamic_size else input_size

    @tf.function(input_signature=[tf.TensorSpec((1, *size, 3), tf.float32, name="images")])
    def serve(images):
        with portable():  # plain TF ops, no nested XLA functions
            logits = tf.cast(model(images, training=False), tf.float32)
        if output == "classes":
            return {"classes": tf.cast(tf.math.top_k(logits, 1).indices[..., 0], tf.int32)}
        return {"logits": logits}

    return serve


def sample_images(input_size, extra=None):
    """Verification inputs: a synthetic street scene, plus up to 3 given frames."""
    images = [scene(input_size, seed=2024)[0].astype(np.float32)]
    if extra is not None:
        images += [np.asarray(frame, np.float32) for frame in extra[:3]]
    return np.stack(images)


def as_frames(data, input_size):
    """(N, H, W, 3) float32 frames at `input_size` from an array or an iterable of batches."""
    if data is None:
        return None
    if isinstance(data, np.ndarray):
        batches = [data if data.ndim == 4 else data[None]]
    else:
        batches = [np.asarray(item[0] if isinstance(item, tuple) else item) for item in data]
    frames = np.concatenate([b if b.ndim == 4 else b[None] for b in batches]).astype(np.float32)
    if frames.shape[-1] != 3:
        raise ExportRefused(f"Representative frames must be RGB (..., 3); got shape {frames.shape}.")
    if frames.shape[1:3] != tuple(input_size):
        frames = keras.ops.convert_to_numpy(
            keras.ops.image.resize(frames, input_size, interpolation="bilinear")
        )
    return frames


def verify(model, run_exported, images, output, quantization):
    """Compares the exported model with Keras on `images`; raises if it disagrees.

    float32 logits may differ by 1e-3 at most (1e-5 of the largest |logit|
    where that is above 100); class maps must agree on `MIN_AGREEMENT` of
    the pixels.

    Returns:
        dict: `class_agreement` (share of identical class pixels),
        `max_abs_logit` (of Keras) and, for logits, `max_abs_diff`.
    """
    expected = np.concatenate(
        [keras.ops.convert_to_numpy(model.predict_on_batch(image[None])) for image in images]
    )
    expected_classes = expected.argmax(-1)
    got = run_exported(images)  # one call: a child-process runner starts once
    report = {"max_abs_logit": float(np.abs(expected).max())}
    if output == "logits":
        report["max_abs_diff"] = float(np.abs(got.astype(np.float32) - expected).max())
        got = got.argmax(-1)
    report["class_agreement"] = float((got == expected_classes).mean())
    floor = MIN_AGREEMENT[quantization]
    problems = []
    if report["class_agreement"] < floor:
        problems.append(f"class maps agree on {100 * report['class_agreement']:.3f}% of pixels (< {100 * floor}%)")
    limit = max(MAX_LOGIT_DIFF, MAX_RELATIVE_LOGIT_DIFF * report["max_abs_logit"])
    if quantization is None and report.get("max_abs_diff", 0.0) > limit:
        problems.append(f"max abs logit difference {report['max_abs_diff']:.2e} (> {limit:.1e})")
    if problems:
        raise ExportError("The exported model disagrees with Keras: " + "; ".join(problems) + ".")
    return report


def convert_in_tensorflow(model, fmt, destination, options, progress):
    """Runs the conversion under the TensorFlow backend in a subprocess.

    The model travels as a `.keras` file; `options` (input size, output,
    quantization, opset, representative frames) as command-line arguments
    and an `.npy` file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.keras"
        model.save(model_file)
        command = [
            sys.executable, "-m", "keras_segup.export.worker", str(model_file), fmt, str(destination),
            "--input-size", *map(str, options["input_size"]), "--output", options["output"],
        ]
        if options.get("quantization"):
            command += ["--quantization", options["quantization"]]
        keep_float = options.get("keep_float")
        if keep_float:
            command += ["--keep-float", str(keep_float) if isinstance(keep_float, int) else ",".join(keep_float)]
        if options.get("opset"):
            command += ["--opset", str(options["opset"])]
        if options.get("representative_data") is not None:
            np.save(Path(tmp) / "frames.npy", options["representative_data"])
            command += ["--representative", str(Path(tmp) / "frames.npy")]
        progress.set_description(f"converting under TensorFlow (subprocess, from {keras.backend.backend()})")
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if "Error" in line or "error" in line]
        detail = lines[-1] if lines else result.stderr.strip()[-2000:]
        raise ExportError(f"The {fmt} conversion under TensorFlow failed: {detail}")


def check_destination(path, fmt):
    """`path` as a `Path`; `ExportRefused` unless it names a file in an existing folder."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportRefused(f"The folder {path.parent} does not exist; create it first.")
    if path.is_dir():
        raise ExportRefused(f"{path} is a folder; name the file to write (e.g. {path / ('model.' + fmt)}).")
    return path


def export_atomically(model, path, fmt, convert, run_exported, options):
    """Converts to a hidden temporary file, verifies it, then moves it to `path`.

    Args:
        model: the segmenter.
        path: destination file.
        fmt: `"tflite"` or `"onnx"`.
        convert: `convert(tf_model, destination, options)` under TensorFlow.
        run_exported: `run(path) -> run(images) -> numpy outputs`, images (N, H, W, 3).
        options: the format's options (see `convert_in_tensorflow`).

    Returns:
        The verification report, with `path`, `bytes` and `converted_by`.
    """
    path = check_destination(path, fmt)
    partial = path.with_name(f".{path.name}.partial")
    steps = ("convert", "verify", "write")
    with tqdm(total=len(steps), desc=f"exporting {fmt}", unit="step", leave=False) as progress:
        try:
            if keras.backend.backend() == "tensorflow":
                progress.set_description(f"converting to {fmt}")
                convert(model, partial, options)
                converted_by = "tensorflow (in process)"
            else:
                convert_in_tensorflow(model, fmt, partial, options, progress)
                converted_by = f"tensorflow (subprocess, model built under {keras.backend.backend()})"
            progress.update()
            progress.set_description("verifying against Keras")
            images = sample_images(options["input_size"], options.get("representative_data"))
            report = verify(model, run_exported(partial), images, options["output"], options.get("quantization"))
            progress.update()
            os.replace(partial, path)
            progress.update()
        finally:
            if partial.exists():
                partial.unlink()
    return {**report, "path": str(path), "bytes": path.stat().st_size, "converted_by": converted_by}
