import keras
import numpy as np
import pytest

from keras_segup.losses import OHEMCrossEntropy
from tests.test_case import TestCase


def case(seed=0, shape=(2, 12, 16), classes=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, shape)
    labels[:, 0] = 255
    return labels, (3 * rng.normal(size=(*shape, classes))).astype("float32")


def numpy_ohem(labels, logits, threshold, min_kept):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    valid = labels != 255
    nll = -np.take_along_axis(log_probs, np.where(valid, labels, 0)[..., None], -1)[..., 0]
    prob = np.exp(-nll)[valid]
    ranked = np.sort(prob)
    cut = max(ranked[min(min_kept * labels.shape[0], prob.size) - 1], threshold)
    return nll[valid][prob < cut].mean()


class TestLosses(TestCase):
    @pytest.mark.parametrize("threshold, min_kept", [(0.7, 10), (0.7, 150), (0.3, 1), (0.05, 40)])
    def test_matches_numpy(self, threshold, min_kept):
        labels, logits = case()
        got = self.to_numpy(OHEMCrossEntropy(threshold, min_kept)(labels, logits))
        np.testing.assert_allclose(got, numpy_ohem(labels, logits, threshold, min_kept), rtol=1e-5)

    def test_keeps_every_pixel_below_full_confidence_like_plain_ce(self):
        labels, logits = case(1)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
        np.testing.assert_allclose(
            self.to_numpy(OHEMCrossEntropy(1.0, 1)(labels, logits)), self.to_numpy(ce(labels, logits)), rtol=1e-5
        )

    def test_pixel_weights_and_config(self):
        labels, logits = case(2)
        weights = np.zeros(labels.shape, "float32")
        assert float(self.to_numpy(OHEMCrossEntropy(0.7, 10)(labels, logits, sample_weight=weights))) == 0.0
        loss = OHEMCrossEntropy.from_config(OHEMCrossEntropy(0.6, 5).get_config())
        assert (loss.threshold, loss.min_kept) == (0.6, 5)
        with pytest.raises(ValueError, match="threshold"):
            OHEMCrossEntropy(1.5)
