"""Test-time inference: whole image, sliding window, multi-scale and flip.

Each function takes a segmenter (or any model mapping images (B, H, W, 3)
to logits (B, H, W, C)) and numpy images in 0..255, and returns class
probabilities (B, H, W, C) as float32 numpy arrays, averaged over windows,
scales and flips. They work on every backend and on any image size.
"""

import numpy as np
from keras import ops

from keras_segup.layers.validation import check_images
from keras_segup.ops import resize_bilinear
from keras_segup.utils.latency import latency  # noqa: F401  (re-exported: keras_segup.inference.latency)


def _softmax(logits):
    return ops.convert_to_numpy(ops.softmax(ops.cast(logits, "float32"), axis=-1))


def _resize(x, size):
    return ops.convert_to_numpy(resize_bilinear(ops.convert_to_tensor(x), size))


def whole(model, images):
    """Probabilities of the whole images in one pass.

    Args:
        model: the segmenter.
        images: (B, H, W, 3) in 0..255.

    Returns:
        float32 (B, H, W, C).
    """
    return _softmax(model.predict_on_batch(check_images(images)))


def _window_starts(size, crop, stride):
    """Window origins covering `size`; the last window ends at the border."""
    if size <= crop:
        return [0]
    starts = list(range(0, size - crop, stride)) + [size - crop]
    return sorted(set(starts))


def sliding_window(model, images, crop_size=(1024, 1024), stride=(683, 683), batch_size=4):
    """Probabilities averaged over overlapping `crop_size` windows.

    Windows step by `stride`; the last row and column of windows are moved
    inward to end at the border, so any image size is covered. Images
    smaller than a window are run whole along that side.

    Args:
        model: the segmenter.
        images: (B, H, W, 3) in 0..255.
        crop_size: `(height, width)` of a window.
        stride: `(row, column)` steps between windows.
        batch_size: windows per forward pass.

    Returns:
        float32 (B, H, W, C).

    Example:
    ```python
    probs = sliding_window(model, image[None], crop_size=(512, 512), stride=(341, 341))
    ```
    """
    images = check_images(images)
    if min(*crop_size, *stride) < 1:
        raise ValueError(f"crop_size and stride must be positive; got {crop_size}, {stride}.")
    _, height, width, _ = images.shape
    boxes = [
        (top, left)
        for top in _window_starts(height, crop_size[0], stride[0])
        for left in _window_starts(width, crop_size[1], stride[1])
    ]
    crop_h, crop_w = min(crop_size[0], height), min(crop_size[1], width)
    total, hits = None, np.zeros((1, height, width, 1), np.float32)
    for first in range(0, len(boxes), batch_size):
        chunk = boxes[first : first + batch_size]
        crops = np.concatenate([images[:, t : t + crop_h, l : l + crop_w] for t, l in chunk])
        probs = _softmax(model.predict_on_batch(crops)).reshape(len(chunk), len(images), crop_h, crop_w, -1)
        if total is None:
            total = np.zeros((*images.shape[:3], probs.shape[-1]), np.float32)
        for (top, left), window in zip(chunk, probs):
            total[:, top : top + crop_h, left : left + crop_w] += window
            hits[:, top : top + crop_h, left : left + crop_w] += 1
    return total / hits


def multi_scale(model, images, scales=(0.75, 1.0, 1.25, 1.5, 1.75), flip=True, crop_size=None, stride=None):
    """Probabilities averaged over rescaled (and mirrored) copies of the images.

    Each copy's probabilities are resized back to the input size (bilinear)
    before averaging; with `crop_size` each copy runs through `sliding_window`.

    Args:
        model: the segmenter.
        images: (B, H, W, 3) in 0..255.
        scales: resize factors.
        flip: also run the left-right mirrored copies.
        crop_size, stride: sliding-window inference per copy (None: whole).

    Returns:
        float32 (B, H, W, C).
    """
    images = check_images(images)
    size = images.shape[1:3]
    total, count = 0.0, 0
    for scale in scales:
        scaled_size = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        scaled = _resize(images, scaled_size)
        for mirrored in (False, True) if flip else (False,):
            batch = scaled[:, :, ::-1] if mirrored else scaled
            if crop_size is None:
                probs = whole(model, batch)
            else:
                probs = sliding_window(model, batch, crop_size, stride or crop_size)
            probs = probs[:, :, ::-1] if mirrored else probs
            total = total + _resize(probs, size)
            count += 1
    return total / count
