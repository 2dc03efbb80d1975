"""Each backend's `host_array` against the portable conversion (`keras.ops.convert_to_numpy`)."""

import keras
import numpy as np
import pytest

from keras_segup.ops import reference
from keras_segup.ops.dispatch import backend_module


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int32", "bool"])
def test_host_array_is_the_portable_conversion(dtype):
    values = np.random.default_rng(0).normal(size=(2, 5, 7, 3)) * 10
    x = keras.ops.cast(keras.ops.convert_to_tensor(values), dtype)
    ours, portable = backend_module().host_array(x), reference.host_array(x)
    assert isinstance(ours, np.ndarray) and ours.dtype == portable.dtype and ours.shape == (2, 5, 7, 3)
    np.testing.assert_array_equal(ours, portable)


def test_host_array_shares_the_buffer_of_a_cpu_tensor():
    x = keras.ops.ones((64, 64), "float32") * 2.0
    ours = backend_module().host_array(x)
    assert not ours.flags.owndata  # a view of the tensor's memory, not a copy
