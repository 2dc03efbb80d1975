import keras
import numpy as np
import pytest

from keras_segup.schedules import PolyDecay


def test_warmup_then_poly_decay():
    schedule = PolyDecay(0.01, total_steps=100, power=0.9, warmup_steps=10, warmup_ratio=0.1)
    values = [float(keras.ops.convert_to_numpy(schedule(s))) for s in (0, 5, 10, 50, 100, 150)]
    decay = lambda s: 0.01 * (1 - s / 100) ** 0.9  # noqa: E731
    np.testing.assert_allclose(
        values,
        [decay(0) * 0.1, decay(5) * (0.1 + 0.9 * 0.5), decay(10), decay(50), 0.0, 0.0],
        rtol=1e-5, atol=1e-9,
    )


def test_serialisable_and_validated():
    schedule = PolyDecay(0.02, total_steps=50, warmup_steps=5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="must exceed `warmup_steps`"):
        PolyDecay(0.01, total_steps=5, warmup_steps=5)
