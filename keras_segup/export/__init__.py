"""Deployment: TFLite and ONNX files, verified against Keras before they are written.

| backend of the model | TFLite | ONNX |
|---|---|---|
| tensorflow | TFLiteConverter, in process | tf2onnx, in process |
| jax | `.keras` -> TensorFlow subprocess | `.keras` -> TensorFlow subprocess |
| torch | `.keras` -> TensorFlow subprocess | `.keras` -> TensorFlow subprocess |

JAX has no LiteRT path and its ONNX path rejects max-pooling; torch's ONNX
export needs onnxscript and a static signature: TensorFlow is the one
dependable path, so every export goes through it.
"""

from keras_segup.utils.compat import require_tensorflow

require_tensorflow("keras_segup.export (TFLite and ONNX, converted by TensorFlow)")

from keras_segup.export.common import ExportError  # noqa: E402
from keras_segup.export.common import ExportRefused  # noqa: E402
from keras_segup.export.onnx import export_onnx  # noqa: E402
from keras_segup.export.tflite import CALIBRATED  # noqa: E402
from keras_segup.export.tflite import QUANTIZATIONS  # noqa: E402
from keras_segup.export.tflite import export_tflite  # noqa: E402

__all__ = ["CALIBRATED", "ExportError", "ExportRefused", "QUANTIZATIONS", "export_onnx", "export_tflite"]
