import keras
import numpy as np
import pytest

from keras_segup.metrics import MeanIoU
from keras_segup.metrics import confusion_matrix
from keras_segup.metrics import iou_from_confusion
from tests.test_case import TestCase


def random_case(seed=0, classes=5, shape=(2, 33, 47)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, shape)
    labels[:, :3] = 255
    logits = rng.normal(size=(*shape, classes)).astype("float32")
    return labels, logits


def brute_force_iou(labels, classes, num_classes):
    iou = []
    valid = labels != 255
    for c in range(num_classes):
        inter = np.sum((labels == c) & (classes == c) & valid)
        union = np.sum(((labels == c) | (classes == c)) & valid)
        iou.append(inter / union if union else np.nan)
    return np.array(iou)


class TestMetrics(TestCase):
    def test_streaming_metric_matches_brute_force(self):
        metric = MeanIoU(5)
        all_labels, all_classes = [], []
        for seed in range(3):
            labels, logits = random_case(seed)
            metric.update_state(labels, logits)
            all_labels.append(labels)
            all_classes.append(logits.argmax(-1))
        expected = brute_force_iou(np.concatenate(all_labels), np.concatenate(all_classes), 5)
        np.testing.assert_allclose(metric.per_class_iou(), expected, rtol=1e-12)
        np.testing.assert_allclose(float(self.to_numpy(metric.result())), np.nanmean(expected), rtol=1e-6)
        metric.reset_state()
        assert float(self.to_numpy(metric.result())) == 0.0

    def test_absent_classes_left_out_of_the_mean(self):
        labels = np.array([[0, 0, 1, 255]])
        metric = MeanIoU(4)
        metric.update_state(labels, np.array([[0, 0, 1, 3]]))  # class maps work too
        iou = metric.per_class_iou()
        assert iou[0] == 1.0 and iou[1] == 1.0 and np.isnan(iou[2]) and np.isnan(iou[3])
        assert float(self.to_numpy(metric.result())) == 1.0

    def test_sample_weight_drops_pixels(self):
        labels, logits = random_case(1)
        weight = np.ones(labels.shape, "float32")
        weight[:, 10:] = 0
        metric = MeanIoU(5)
        metric.update_state(labels, logits, sample_weight=weight)
        expected = confusion_matrix(labels[:, :10], logits[:, :10].argmax(-1), 5)
        np.testing.assert_array_equal(self.to_numpy(metric.confusion), expected)

    def test_in_compiled_fit_and_serialisation(self):
        labels, _ = random_case(2)
        inputs = keras.Input((33, 47, 3))
        model = keras.Model(inputs, keras.layers.Conv2D(5, 1)(inputs))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
        model.compile("adam", loss, metrics=[MeanIoU(5)])
        images = np.random.default_rng(0).normal(size=(2, 33, 47, 3))
        history = model.fit(images, labels, epochs=1, verbose=0)
        expected = np.nanmean(iou_from_confusion(confusion_matrix(labels, self.to_numpy(model(images)).argmax(-1), 5)))
        assert 0.0 < history.history["mean_iou"][0] <= 1.0
        logged = model.evaluate(images, labels, verbose=0, return_dict=True)["mean_iou"]
        np.testing.assert_allclose(logged, expected, rtol=1e-5)
        clone = MeanIoU.from_config(MeanIoU(7, ignore_class=0).get_config())
        assert clone.num_classes == 7 and clone.ignore_class == 0

    def test_confusion_matrix_rejects_out_of_range_labels(self):
        with pytest.raises(ValueError, match="1 label values are out of range, e.g. 9"):
            confusion_matrix(np.array([0, 9]), np.array([0, 1]), 5)
        with pytest.raises(ValueError, match="must be positive"):
            MeanIoU(0)

    def test_out_of_range_labels_are_never_dropped(self):
        labels, logits = random_case(classes=5)
        labels[0, 0, :3] = 7  # not a class, not the ignore value
        metric = MeanIoU(5)
        with pytest.raises(ValueError, match="3 label values are out of range, e.g. 7"):
            metric.update_state(labels, logits)
        model = keras.Sequential([keras.Input((33, 47, 5)), keras.layers.Identity()])
        compiled_metric = MeanIoU(5)
        model.compile(metrics=[compiled_metric], loss=lambda y_true, y_pred: keras.ops.mean(y_pred) * 0.0)
        clean = model.evaluate(logits, np.where(labels == 7, 255, labels), verbose=0, return_dict=True)
        assert np.isfinite(clean["mean_iou"])
        compiled = model.evaluate(logits, labels, verbose=0, return_dict=True)  # traced: no raise possible
        assert np.isnan(compiled["mean_iou"])  # ... so the result says it, instead of a wrong number
        with pytest.raises(ValueError, match="3 label values were out of range"):
            compiled_metric.per_class_iou()
