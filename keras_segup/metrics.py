"""Mean intersection-over-union from a streaming confusion matrix."""

import keras
import numpy as np
from keras import ops

from keras_segup.datasets_info import IGNORE_INDEX


def iou_from_confusion(confusion):
    """Per-class IoU from a confusion matrix (rows: labels, columns: predictions).

    Classes that occur neither in the labels nor in the predictions get
    NaN, as in cityscapesScripts, and are left out of the mean.

    Args:
        confusion: (num_classes, num_classes) counts.

    Returns:
        float64 array (num_classes,).
    """
    confusion = np.asarray(confusion, np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def check_labels(labels, num_classes, ignore_class=IGNORE_INDEX):
    """A `ValueError` with the count and an example if a numpy label is outside `0..num_classes-1`."""
    labels = np.asarray(labels)
    bad = (labels != ignore_class) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} label values are out of range, e.g. {labels[bad][0]}: labels must be "
            f"0..{num_classes - 1} or {ignore_class} (ignored). Map the dataset's ids to training ids first."
        )


def confusion_matrix(labels, classes, num_classes, ignore_class=IGNORE_INDEX):
    """Exact int64 confusion matrix of numpy label and class maps.

    Args:
        labels: int array, any shape; `ignore_class` pixels are skipped.
        classes: predicted class ids, same shape.
        num_classes: number of classes.
        ignore_class: label value to skip.

    Returns:
        int64 array (num_classes, num_classes).
    """
    labels = np.asarray(labels).astype(np.int64).ravel()
    classes = np.asarray(classes).astype(np.int64).ravel()
    if labels.shape != classes.shape:
        raise ValueError(f"labels and predictions differ in size: {labels.size} vs {classes.size}.")
    check_labels(labels, num_classes, ignore_class)
    valid = labels != ignore_class
    index = labels[valid] * num_classes + classes[valid]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


@keras.saving.register_keras_serializable(package="keras_segup")
class MeanIoU(keras.metrics.Metric):
    """Mean IoU over a streaming confusion matrix, straight from the logits.

    Takes the segmenter's logits (B, H, W, C) (or class maps (B, H, W)) and
    labels (B, H, W), skips `ignore_class` pixels (and pixels whose
    per-pixel `sample_weight` is 0), and averages the IoU of
    the classes present in labels or predictions, as cityscapesScripts does.
    A label outside `0..num_classes-1` other than `ignore_class` is never
    dropped: numpy labels raise at once; inside a compiled step, where
    nothing can raise, the result becomes NaN and `per_class_iou` raises.
    The confusion matrix is int32 (exact up to 2**31 pixels per cell:
    about a thousand 1024x2048 frames of a single class).

    Args:
        num_classes: number of classes.
        ignore_class: label value to skip.
        name: metric name.
        dtype: dtype of the result.

    Example:
    ```python
    model.compile(metrics=[MeanIoU(num_classes=19)])
    metric = MeanIoU(19); metric.update_state(labels, logits)
    metric.result(), metric.per_class_iou()
    ```
    """

    def __init__(self, num_classes, ignore_class=IGNORE_INDEX, name="mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 1:
            raise ValueError(f"`num_classes` must be positive; got {num_classes}.")
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="int32",
            name="confusion_matrix",
        )
        self.out_of_range = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="out_of_range")

    def update_state(self, y_true, y_pred, sample_weight=None):
        n = self.num_classes
        if isinstance(y_true, np.ndarray):
            check_labels(y_true, n, self.ignore_class)
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1 and n > 1:
            y_true = y_true[..., 0]
        if len(y_pred.shape) == len(y_true.shape) + 1:
            y_pred = ops.top_k(y_pred, 1)[1][..., 0]
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        classes = ops.reshape(ops.cast(y_pred, "int32"), (-1,))
        valid = ops.logical_and(labels >= 0, labels < n)
        outside = ops.logical_and(ops.logical_not(valid), labels != self.ignore_class)
        self.out_of_range.assign_add(ops.sum(ops.cast(outside, "int32")))
        valid = ops.logical_and(valid, labels != self.ignore_class)
        if sample_weight is not None:  # per-pixel weights: zero drops the pixel
            weight = ops.broadcast_to(ops.convert_to_tensor(sample_weight), ops.shape(y_true))
            valid = ops.logical_and(valid, ops.reshape(weight, (-1,)) > 0)
        index = ops.where(valid, labels * n + classes, n * n)
        ones = ops.ones_like(index)
        counts = ops.segment_sum(ones, index, num_segments=n * n + 1)[: n * n]
        self.confusion.assign_add(ops.reshape(ops.cast(counts, "int32"), (n, n)))

    def result(self):
        confusion = ops.cast(self.confusion, "float32")
        hits = ops.diagonal(confusion)
        union = ops.sum(confusion, 0) + ops.sum(confusion, 1) - hits
        present = ops.cast(union > 0, "float32")
        iou = hits / ops.maximum(union, 1.0)
        mean = ops.sum(iou * present) / ops.maximum(ops.sum(present), 1.0)
        return ops.cast(ops.where(self.out_of_range > 0, float("nan"), mean), self.dtype)

    def per_class_iou(self):
        """IoU of each class as a float64 numpy array (NaN where a class never occurred)."""
        count = int(ops.convert_to_numpy(self.out_of_range))
        if count:
            raise ValueError(
                f"{count} label values were out of range: labels must be 0..{self.num_classes - 1} or "
                f"{self.ignore_class} (ignored). Map the dataset's ids to training ids first."
            )
        return iou_from_confusion(ops.convert_to_numpy(self.confusion))

    def reset_state(self):
        self.confusion.assign(ops.zeros((self.num_classes, self.num_classes), "int32"))
        self.out_of_range.assign(0)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "ignore_class": self.ignore_class,
            "name": self.name,
            "dtype": self.dtype,
        }
