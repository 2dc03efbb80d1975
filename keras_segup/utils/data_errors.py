"""Where a `tf.data` pipeline is consumed, its errors as `DataError`s naming the file."""

import contextlib
import sys


@contextlib.contextmanager
def named_data_errors():
    """Re-raises a `tf.data` error about a dataset file as the `DataError` naming it.

    See `keras_segup.data.files.as_data_error`. Only a `tf.data` pipeline,
    hence a loaded TensorFlow, raises such errors: numpy inputs and the
    TensorFlow-free install pass through untouched.

    Example:
    ```python
    with named_data_errors():
        model.fit(data.cityscapes(root, "train", training=True), epochs=1)
    ```
    """
    try:
        yield
    except Exception as error:
        if "tensorflow" in sys.modules:
            from keras_segup.data.files import as_data_error

            replacement = as_data_error(error)
            if replacement is not None:
                raise replacement from None
        raise
