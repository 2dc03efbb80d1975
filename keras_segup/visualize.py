"""Pictures of predictions: palettes, colour overlays, comparisons, training curves."""

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from PIL import ImageDraw

from keras_segup.datasets_info import DATASETS
from keras_segup.datasets_info import IGNORE_INDEX


def palette(dataset):
    """The (num_classes, 3) uint8 colours of `"cityscapes"`, `"ade20k"` or `"voc"`."""
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; palettes exist for {sorted(DATASETS)}.")
    return np.array(DATASETS[dataset]["palette"], np.uint8)


def colorize(classes, colors):
    """Class map (H, W) -> RGB uint8 (H, W, 3); ignored (255) pixels are black.

    Args:
        classes: int class ids.
        colors: (num_classes, 3) palette.
    """
    classes = np.asarray(classes)
    table = np.zeros((256, 3), np.uint8)
    table[: len(colors)] = colors
    table[IGNORE_INDEX] = 0
    if classes.min(initial=0) < 0 or classes.max(initial=0) > 255:
        raise ValueError("Class ids must be in 0..255 to be coloured.")
    return table[classes.astype(np.int64)]


def overlay(image, classes, colors, alpha=0.5):
    """The image with its class colours blended on top.

    Args:
        image: RGB (H, W, 3) in 0..255.
        classes: class map (H, W).
        colors: (num_classes, 3) palette.
        alpha: weight of the colours.

    Returns:
        uint8 (H, W, 3).

    Example:
    ```python
    picture = overlay(image, model.segment(image[None])[0], palette("cityscapes"))
    ```
    """
    image = np.asarray(image, np.float32)
    if image.shape[:2] != np.shape(classes):
        raise ValueError(f"Image {image.shape[:2]} and class map {np.shape(classes)} differ in size.")
    blended = (1 - alpha) * image + alpha * colorize(classes, colors)
    return np.clip(blended, 0, 255).astype(np.uint8)


def legend_entries(classes, class_names, colors):
    """`(name, colour)` of every class present in `classes`, in class order.

    Args:
        classes: one or more class maps (arrays of ints; values outside the
            palette, such as 255, are left out).
        class_names: one name per class, or None for the class ids.
        colors: (num_classes, 3) uint8 palette.

    Returns:
        A list of `(str, (r, g, b))`.
    """
    maps = classes if isinstance(classes, (list, tuple)) else [classes]
    present = np.unique(np.concatenate([np.ravel(m) for m in maps])).tolist()
    names = class_names or [str(c) for c in range(len(colors))]
    return [(names[c], tuple(int(v) for v in colors[c])) for c in present if 0 <= c < len(colors)]


def with_legend(picture, classes, class_names, colors):
    """The picture with a strip below listing the classes present in `classes`, in their colours.

    Args:
        picture: RGB uint8 (H, W, 3), e.g. an `overlay`.
        classes: class map (H, W) of the picture.
        class_names: one name per class.
        colors: (num_classes, 3) uint8 palette.

    Returns:
        RGB uint8 (H + strip, W, 3).

    Example:
    ```python
    Image.fromarray(with_legend(overlay(image, classes, colors), classes, names, colors))
    ```
    """
    entries = legend_entries(classes, class_names, colors)
    row_height, columns = 18, max(1, picture.shape[1] // 160)
    rows = -(-len(entries) // columns)
    canvas = Image.new("RGB", (picture.shape[1], picture.shape[0] + rows * row_height + 4), "white")
    canvas.paste(Image.fromarray(picture), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for index, (name, color) in enumerate(entries):
        x = (index % columns) * 160 + 4
        y = picture.shape[0] + (index // columns) * row_height + 4
        draw.rectangle([x, y, x + 12, y + 12], fill=color)
        draw.text((x + 16, y), name[:22], fill="black")
    return np.asarray(canvas)


def side_by_side(image, prediction, label=None, colors=None, class_names=None, path=None):
    """A figure: image | prediction (| label), with a legend of the classes shown.

    Args:
        image: RGB (H, W, 3).
        prediction: class map (H, W).
        label: optional ground-truth class map (255 ignored).
        colors: palette; default Cityscapes.
        class_names: names for the legend; default: class ids.
        path: save the figure there (PNG) when given.

    Returns:
        The matplotlib `Figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch

    colors = palette("cityscapes") if colors is None else np.asarray(colors, np.uint8)
    panels = [("image", np.asarray(image, np.uint8)), ("prediction", colorize(prediction, colors))]
    if label is not None:
        panels.append(("label", colorize(label, colors)))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.2), squeeze=False)
    for axis, (title, picture) in zip(axes[0], panels):
        axis.imshow(picture)
        axis.set_title(title)
        axis.axis("off")
    shown = [prediction] + ([label] if label is not None else [])
    handles = [
        Patch(color=np.array(color) / 255.0, label=name)
        for name, color in legend_entries(shown, class_names, colors)
    ]
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), frameon=False)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def read_log(path):
    """Columns of a training `log.csv` as `{name: [float per epoch]}`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No training log at {path}; train() writes <output>/log.csv.")
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def plot_history(log, path=None):
    """Loss and mean-IoU curves (train and validation) from a training log.

    Args:
        log: a `log.csv` path, or a Keras `History.history` dict.
        path: save the figure there (PNG) when given.

    Returns:
        The matplotlib `Figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    columns = log if isinstance(log, dict) else read_log(log)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for axis, metric in zip(axes, ("loss", "mean_iou")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if key in columns:
                axis.plot(range(1, len(columns[key]) + 1), columns[key], style, label=key)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.legend()
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
