"""Procedurally generated street scenes with exact labels, for demos and tests.

Each scene has sky, buildings with windows, trees, a road in perspective
with lane marks, sidewalks and terrain, poles with traffic signs, cars and people,
with textures and lighting that vary per image. Labels are Cityscapes
trainIds, so a model trained on them uses the Cityscapes class names and
palette, and `write_cityscapes_layout` writes them in the official layout.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_segup.data.labels import CITYSCAPES_TRAIN_TO_LABEL
from keras_segup.data.pipeline import make_dataset

ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, TERRAIN, SKY, PERSON, CAR = 0, 1, 2, 5, 7, 8, 9, 10, 11, 13
CLASSES_PRESENT = (ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, TERRAIN, SKY, PERSON, CAR)


def _paint(image, label, mask, class_id, color, rng, texture=8.0):
    noise = rng.normal(0.0, texture, (*mask.shape, 1))
    image[mask] = np.clip(np.asarray(color, np.float32) + noise[mask], 0, 255)
    label[mask] = class_id


def _box(height, width, top, bottom, left, right):
    rows, cols = np.ogrid[:height, :width]
    return (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)


def scene(size=(256, 512), seed=0):
    """One street scene.

    Args:
        size: `(height, width)`.
        seed: integer; the same seed gives the same scene.

    Returns:
        `(image uint8 (H, W, 3), label uint8 (H, W))`, label in Cityscapes
        trainIds.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    image = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    rows, cols = np.ogrid[:h, :w]
    horizon = int(h * rng.uniform(0.38, 0.5))
    light = rng.uniform(0.75, 1.15)

    sky = rows < horizon + 1
    _paint(image, label, np.broadcast_to(sky, (h, w)), SKY, (110, 160, 225), rng, 4.0)
    image[: horizon + 1] += (rows[: horizon + 1] / max(horizon, 1) * 40.0)[..., None]

    x = 0
    while x < w:  # a row of buildings against the sky
        width = int(rng.uniform(0.12, 0.3) * w)
        top = int(rng.uniform(0.05, 0.6) * horizon)
        grey = rng.uniform(70, 150)
        tint = rng.uniform(-15, 15, 3)
        mask = _box(h, w, top, horizon + 1, x, x + width)
        _paint(image, label, mask, BUILDING, grey + tint, rng, 6.0)
        for wy in range(top + 6, horizon - 6, 14):  # windows: still building
            for wx in range(x + 5, x + width - 8, 12):
                image[wy : wy + 6, wx : wx + 5] = grey * 0.45
        x += width

    for _ in range(rng.integers(1, 4)):  # trees in front of the buildings
        cx, cy = rng.uniform(0, w), horizon - rng.uniform(0.1, 0.35) * h
        ry, rx = rng.uniform(0.1, 0.2) * h, rng.uniform(0.05, 0.12) * w
        crown = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 < 1
        _paint(image, label, crown, VEGETATION, (60, 120 + rng.uniform(-20, 20), 45), rng, 18.0)

    centre = w * rng.uniform(0.4, 0.6)
    spread = (rows - horizon) * rng.uniform(1.1, 1.6)
    below = rows > horizon
    road = below & (np.abs(cols - centre) < spread)
    kerb = below & ~road & (np.abs(cols - centre) < spread * 1.6 + 4)
    ground = below & ~road & ~kerb
    _paint(image, label, ground, TERRAIN, (120, 150, 70), rng, 14.0)
    _paint(image, label, kerb, SIDEWALK, (200, 170, 190), rng, 8.0)
    _paint(image, label, road, ROAD, (85, 80, 88), rng, 6.0)
    dashes = road & (np.abs(cols - centre) < 1 + (rows - horizon) * 0.03) & ((rows // 9) % 2 == 0)
    image[dashes] = 235.0  # lane marks are road

    for _ in range(rng.integers(1, 3)):  # poles with a sign on the kerb
        side = rng.choice([-1, 1])
        base = int(rng.uniform(horizon + 0.2 * (h - horizon), h - 5))
        px = int(centre + side * (base - horizon) * 1.35)
        tall, thick = int((base - horizon) * 1.8) + 10, max(2, (base - horizon) // 25)
        _paint(image, label, _box(h, w, base - tall, base, px - thick, px + thick), POLE, (150, 150, 150), rng, 3.0)
        sign = max(5, thick * 4)
        _paint(image, label, _box(h, w, base - tall - sign, base - tall + sign // 2, px - sign, px + sign),
               SIGN, (225, 215, 20), rng, 6.0)

    for _ in range(rng.integers(1, 4)):  # cars on the road, nearer ones larger
        base = int(rng.uniform(horizon + 0.25 * (h - horizon), h))
        scale = (base - horizon) / max(h - horizon, 1)
        cw, ch = int(w * 0.3 * scale) + 6, int(h * 0.22 * scale) + 4
        cx = int(centre + rng.uniform(-0.6, 0.6) * (base - horizon) * 1.2)
        color = rng.choice([(20, 30, 140), (160, 20, 20), (20, 20, 25), (230, 230, 235), (30, 110, 60)])
        _paint(image, label, _box(h, w, base - ch, base, cx - cw // 2, cx + cw // 2), CAR, color, rng, 10.0)
        glass = _box(h, w, base - ch, base - ch // 2, cx - cw // 3, cx + cw // 3)
        image[glass] = (60, 80, 100)

    for _ in range(rng.integers(1, 4)):  # people on the sidewalk
        base = int(rng.uniform(horizon + 0.3 * (h - horizon), h))
        side = rng.choice([-1, 1])
        px = centre + side * (base - horizon) * rng.uniform(1.2, 1.5)
        ph = (base - horizon) * 0.9 + 8
        body = (((rows - (base - ph / 2)) / (ph / 2)) ** 2 + ((cols - px) / (ph / 7)) ** 2) < 1
        _paint(image, label, body, PERSON, (200, 40, 120) if rng.random() < 0.5 else (240, 150, 60), rng, 12.0)

    image = np.clip(image * light, 0, 255)
    return image.astype(np.uint8), label


def synthetic(num_images=64, size=(256, 512), seed=0, training=False, **kwargs):
    """A dataset of `scene`s: `num_images` scenes with seeds `seed, seed + 1, ...`.

    Args:
        num_images: number of scenes.
        size: `(height, width)` of each scene.
        seed: seed of the first scene (and of the augmentation).
        training: augment and shuffle (crops default to `size`).
        **kwargs: `keras_segup.data.make_dataset` options.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches in Cityscapes trainIds.

    Example:
    ```python
    train = synthetic(256, training=True, batch_size=8, seed=0)
    held_out = synthetic(32, seed=10_000)
    ```
    """
    scenes = [scene(size, seed + index) for index in range(num_images)]
    images = tf.constant(np.stack([s[0] for s in scenes]))
    labels = tf.constant(np.stack([s[1] for s in scenes]).astype(np.int32))
    kwargs.setdefault("crop_size", size)
    return make_dataset(
        np.arange(num_images),
        lambda index: (tf.gather(images, index), tf.gather(labels, index)),
        training,
        seed=seed,
        **kwargs,
    )


def write_cityscapes_layout(root, num_images=8, size=(256, 512), split="val", seed=0, city="synth"):
    """Writes `scene`s as a Cityscapes-format dataset (labelIds PNGs).

    Args:
        root: destination; `leftImg8bit/` and `gtFine/` are created in it.
        num_images, size, seed: as `synthetic`.
        split: split folder name.
        city: city folder name.

    Returns:
        The list of image paths written.
    """
    image_dir = Path(root) / "leftImg8bit" / split / city
    label_dir = Path(root) / "gtFine" / split / city
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(num_images):
        image, train_ids = scene(size, seed + index)
        stem = f"{city}_{index:06d}_000019"
        Image.fromarray(image).save(image_dir / f"{stem}_leftImg8bit.png")
        Image.fromarray(CITYSCAPES_TRAIN_TO_LABEL[train_ids]).save(label_dir / f"{stem}_gtFine_labelIds.png")
        written.append(image_dir / f"{stem}_leftImg8bit.png")
    return written
