"""Segmentation losses: online hard example mining cross-entropy."""

import keras
from keras import ops

from keras_segup.datasets_info import IGNORE_INDEX


@keras.saving.register_keras_serializable(package="keras_segup")
class OHEMCrossEntropy(keras.losses.Loss):
    """Cross-entropy over the hard pixels only (OHEM, as in FANet and BiSeNet).

    A pixel is hard when the probability of its true class is below
    `threshold`; when fewer than `min_kept` pixels per image are hard, the
    `min_kept * batch` least confident pixels are kept instead. The loss is
    the mean cross-entropy of the kept pixels. Pixels labelled
    `ignore_class` never count. Per-pixel `sample_weight`s scale each
    pixel's contribution, so the loss works with `Segmenter`'s auxiliary
    outputs and weights like any Keras loss.

    Args:
        threshold: probability under which a pixel is hard (0.7).
        min_kept: least number of pixels kept per image.
        ignore_class: label value that never counts.
        name: loss name.
        **kwargs: `keras.losses.Loss` arguments (`reduction`, `dtype`).

    Example:
    ```python
    model.compile(loss=OHEMCrossEntropy(threshold=0.7, min_kept=100_000))
    ```
    """

    def __init__(
        self,
        threshold=0.7,
        min_kept=100_000,
        ignore_class=IGNORE_INDEX,
        name="ohem_cross_entropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"`threshold` is a probability in (0, 1]; got {threshold}.")
        if min_kept < 1:
            raise ValueError(f"`min_kept` must be at least 1; got {min_kept}.")
        self.threshold = float(threshold)
        self.min_kept = int(min_kept)
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(y_pred.shape):
            labels = labels[..., 0]
        valid = ops.logical_and(labels != self.ignore_class, labels < num_classes)
        valid = ops.logical_and(valid, labels >= 0)
        safe = ops.where(valid, labels, 0)
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
        prob = ops.exp(-nll)

        # probability of the min_kept-th least confident valid pixel of the batch
        ranked = ops.sort(ops.reshape(ops.where(valid, prob, 2.0), (-1,)))
        num_valid = ops.sum(ops.cast(valid, "int32"))
        wanted = self.min_kept * ops.shape(labels)[0]
        position = ops.maximum(ops.minimum(wanted, num_valid) - 1, 0)
        cut = ops.maximum(ops.take(ranked, position), self.threshold)
        keep = ops.cast(ops.logical_and(valid, prob < cut), "float32")
        # scaled so that the Loss's mean over all pixels is the mean over kept ones
        pixels = ops.cast(ops.size(keep), "float32")
        scale = pixels / ops.maximum(ops.sum(keep), 1.0)
        return nll * keep * scale

    def get_config(self):
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "min_kept": self.min_kept,
            "ignore_class": self.ignore_class,
        }
