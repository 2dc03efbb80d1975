import keras
import numpy as np
import pytest

from keras_segup import inference


def per_pixel_model(classes=4):
    """A 1x1-conv model: no context, so any tiling must equal the whole image."""
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(classes, 1)(inputs / 255.0))


def images(size=(37, 53), batch=2):
    return np.random.default_rng(0).uniform(0, 255, (batch, *size, 3)).astype("float32")


@pytest.mark.parametrize("crop, stride", [((16, 16), (11, 11)), ((20, 64), (7, 30)), ((64, 64), (32, 32))])
def test_sliding_window_covers_odd_sizes_exactly(crop, stride):
    model = per_pixel_model()
    x = images()
    probs = inference.sliding_window(model, x, crop, stride, batch_size=3)
    assert probs.shape == (2, 37, 53, 4)
    np.testing.assert_allclose(probs, inference.whole(model, x), atol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_window_starts_end_at_the_border():
    assert inference._window_starts(37, 16, 11) == [0, 11, 21]
    assert inference._window_starts(10, 16, 11) == [0]


def test_multi_scale_and_flip():
    model = per_pixel_model()
    x = images()
    np.testing.assert_allclose(
        inference.multi_scale(model, x, scales=(1.0,), flip=True), inference.whole(model, x), atol=1e-6
    )
    probs = inference.multi_scale(model, x, scales=(0.5, 1.5), flip=True, crop_size=(24, 24))
    assert probs.shape == (2, 37, 53, 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match=r"\(batch, height, width, 3\)"):
        inference.whole(per_pixel_model(), np.zeros((37, 53, 3)))



def test_nan_and_inf_pixels_are_refused():
    from tests.test_case import TestCase

    model = TestCase.small_segmenter("fanet")
    batch = np.zeros((2, 32, 32, 3), np.float32)
    batch[1, 5:7, 3, 0] = np.nan
    batch[0, 0, 0, 2] = np.inf
    for run in (model.segment, lambda x: inference.whole(model, x)):
        with pytest.raises(ValueError, match=r"3 pixel values are NaN or infinite, first in image 0"):
            run(batch)
