"""Where a `tf.data` pipeline is consumed, its errors as `DataError`s naming the file."""

import contextlib
import sys


def named_data_errors():
    """`keras_segup.data.files.named_data_errors()` when TensorFlow is loaded, else a null context.

    Only a `tf.data` pipeline, hence a loaded TensorFlow, raises the errors
    it rewrites; numpy inputs and the TensorFlow-free install pass through.
    """
    if "tensorflow" not in sys.modules:
        return contextlib.nullcontext()
    from keras_segup.data.files import named_data_errors as within_tf_data

    return within_tf_data()
