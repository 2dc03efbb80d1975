"""Which implementation of an op runs: the active backend's, or the portable one."""

import contextlib
import importlib

import keras

from keras_segup.ops import reference

_BACKEND_MODULES = {
    "jax": "keras_segup.ops.jax_ops",
    "torch": "keras_segup.ops.torch_ops",
    "tensorflow": "keras_segup.ops.tensorflow_ops",
}


_portable_depth = 0


@contextlib.contextmanager
def portable():
    """Inside this context every gather uses the portable `keras.ops` version.

    Exporters trace under it: the TensorFlow kernels are XLA-compiled
    `tf.function`s, which tf2onnx cannot convert.

    Example:
    ```python
    with keras_segup.ops.portable():
        concrete = serve.get_concrete_function()
    ```
    """
    global _portable_depth
    _portable_depth += 1
    try:
        yield
    finally:
        _portable_depth -= 1


_imported = {}  # backend name -> its module, imported once: torch.compile breaks its graph on an import


def backend_module():
    """The module of the active backend (`jax_ops`, `torch_ops`, `tensorflow_ops`)."""
    name = keras.backend.backend()
    if name not in _imported:
        _imported[name] = importlib.import_module(_BACKEND_MODULES[name])
    return _imported[name]


def backend_ops():
    """The specialised module of the active backend, or the reference."""
    return backend_module() if keras.backend.backend() in _BACKEND_MODULES and not _portable_depth else reference
