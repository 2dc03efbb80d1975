"""Dataset evaluation: per-class IoU and mIoU with a progress bar."""

import numpy as np
from keras.utils import Progbar

from keras_segup import inference
from keras_segup.metrics import confusion_matrix
from keras_segup.metrics import iou_from_confusion
from keras_segup.models.segmenter import Segmenter
from keras_segup.utils.data_errors import named_data_errors

MODES = ("whole", "slide", "multiscale")


def predict_probabilities(model, images, mode="whole", crop_size=(1024, 1024), stride=(683, 683),
                          scales=(0.75, 1.0, 1.25, 1.5, 1.75), flip=True):
    """Class probabilities with the chosen `keras_segup.inference` mode.

    Args:
        model: the segmenter.
        images: (B, H, W, 3) in 0..255.
        mode: `"whole"`, `"slide"` (sliding window) or `"multiscale"`
            (scales + flip, whole images or windows when `crop_size` is set).
        crop_size, stride: windows of `"slide"` (and `"multiscale"`; None
            runs whole images there).
        scales, flip: of `"multiscale"`.

    Returns:
        float32 numpy (B, H, W, C).
    """
    if mode == "whole":
        return inference.whole(model, images)
    if mode == "slide":
        return inference.sliding_window(model, images, crop_size, stride)
    if mode == "multiscale":
        return inference.multi_scale(model, images, scales, flip, crop_size, stride)
    raise ValueError(f"Unknown inference mode {mode!r}; choose one of {MODES}.")


def format_report(result, class_names=None):
    """A table of per-class IoU, then mIoU and pixel accuracy, as text."""
    names = class_names or [str(i) for i in range(len(result["per_class_iou"]))]
    width = max(len(n) for n in names) + 2
    lines = [f"{'class':<{width}} IoU"]
    for name, iou in zip(names, result["per_class_iou"]):
        lines.append(f"{name:<{width}} {'   n/a' if np.isnan(iou) else f'{100 * iou:6.2f}'}")
    lines.append(f"{'mIoU':<{width}} {100 * result['mean_iou']:6.2f}")
    lines.append(f"{'pixel acc':<{width}} {100 * result['pixel_accuracy']:6.2f}")
    return "\n".join(lines)


def evaluate(model, dataset, num_classes=None, class_names=None, mode="whole", verbose=1,
             on_prediction=None, **inference_kwargs):
    """Evaluates a segmenter on a dataset of `(images, labels)` batches.

    The confusion matrix is accumulated exactly (int64, on the host);
    classes absent from both labels and predictions are left out of the
    mean, as cityscapesScripts does.

    Args:
        model: the segmenter.
        dataset: iterable of `(images, labels)` batches (a `tf.data.Dataset`
            from `keras_segup.data`, or numpy pairs).
        num_classes: default: the model's `num_classes`.
        class_names: for the printed table; default: a segmenter's
            `class_names`.
        mode: `"whole"`, `"slide"` or `"multiscale"` (see
            `predict_probabilities`).
        verbose: 1 shows a progress bar and prints the table; 0 is silent.
        on_prediction: called as `on_prediction(images, classes)` for every
            batch (numpy (B, H, W, 3) and int (B, H, W)), e.g. to write the
            predictions.
        **inference_kwargs: `crop_size`, `stride`, `scales`, `flip`.

    Returns:
        dict with `mean_iou`, `per_class_iou` (NaN for absent classes),
        `pixel_accuracy` and `confusion_matrix`.

    Example:
    ```python
    result = keras_segup.evaluate(model, keras_segup.data.cityscapes(root, "val"))
    result["mean_iou"]
    ```
    """
    num_classes = num_classes or model.num_classes
    if class_names is None and isinstance(model, Segmenter):
        class_names = model.class_names
    if mode not in MODES:
        raise ValueError(f"Unknown inference mode {mode!r}; choose one of {MODES}.")
    try:
        steps = len(dataset)
    except TypeError:
        steps = None
    progress = Progbar(steps, unit_name="batch", stateful_metrics=["mIoU"]) if verbose else None
    confusion = np.zeros((num_classes, num_classes), np.int64)
    step = 0
    with named_data_errors():  # a bad label found by tf.data: a DataError naming the file
        for step, (images, labels) in enumerate(dataset, 1):
            images = np.asarray(images)
            classes = predict_probabilities(model, images, mode, **inference_kwargs).argmax(-1)
            confusion += confusion_matrix(np.asarray(labels), classes, num_classes)
            if on_prediction is not None:
                on_prediction(images, classes)
            if progress:
                progress.update(step, [("mIoU", np.nanmean(iou_from_confusion(confusion)))], finalize=False)
    if step == 0:
        raise ValueError("The dataset yielded no batches; check its split and filters.")
    if progress:
        progress.update(step, finalize=True)
    iou = iou_from_confusion(confusion)
    result = {
        "mean_iou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "per_class_iou": iou,
        "pixel_accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "confusion_matrix": confusion,
    }
    if verbose:
        print(format_report(result, class_names))
    return result
