"""keras_segup: real-time semantic segmentation decoders for Keras 3.

Runs unchanged under `KERAS_BACKEND=jax|torch|tensorflow`.

Public API: `keras_segup.ops` (gathers, resizing), `keras_segup.layers`,
`keras_segup.models` (heads and segmenters), `keras_segup.data` (tf.data
pipelines), `keras_segup.losses`, `keras_segup.metrics`,
`keras_segup.inference` (sliding window, multi-scale), `keras_segup.evaluate`,
`keras_segup.export` (TFLite, ONNX), `keras_segup.convert` (official
PyTorch checkpoints), `keras_segup.recipes` (the papers' training recipes),
`keras_segup.optimizers` (SGD as the papers' PyTorch code runs it) and
`keras_segup.training` (`model.fit` runs with resume, precision, devices).

`import keras_segup` registers every layer, model and optimizer for `.keras`
files (it imports `keras_segup.models` and `keras_segup.optimizers`, which
do not need TensorFlow); the
other submodules are imported when first used. `keras_segup.data`
(tf.data) and `keras_segup.export` need TensorFlow. The start-up lines that
native libraries (TensorFlow's absl logging) print while keras loads are
silenced; set `KERAS_SEGUP_NATIVE_LOGS=1` to see them.
"""

import importlib

from keras_segup.utils.compat import native_logs_silenced

with native_logs_silenced():
    from keras_segup import models  # noqa: F401
    from keras_segup import optimizers  # noqa: F401  (registered: trained .keras files name TorchSGD)

__version__ = "0.2.0"

_SUBMODULES = (
    "convert",
    "data",
    "datasets_info",
    "export",
    "inference",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "recipes",
    "training",
    "visualize",
)

__all__ = [*_SUBMODULES, "evaluate", "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_segup.{name}")
    if name == "evaluate":
        return importlib.import_module("keras_segup.evaluation").evaluate
    raise AttributeError(f"module 'keras_segup' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
