"""Evaluates a segmenter on Cityscapes and writes its predictions in the submission format.

    python examples/evaluate_cityscapes.py --data-root /data/cityscapes \\
        --model runs/train/final.keras --out predictions/ --mode slide

Prints per-class IoU and mIoU, and writes for every image
`<out>/labelIds/<name>_leftImg8bit.png` (labelIds, the official submission
format that cityscapesScripts evaluates) and `<out>/overlays/<name>.png`.
`--model` takes a `.keras` file; `--preset` a preset name or folder.
"""

import argparse
from pathlib import Path

import keras
import numpy as np
from keras.utils import Progbar
from PIL import Image

import keras_segup
from keras_segup.data.cityscapes import cityscapes_pairs
from keras_segup.data.labels import CITYSCAPES_TRAIN_TO_LABEL
from keras_segup.datasets_info import CITYSCAPES_CLASSES
from keras_segup.evaluation import format_report
from keras_segup.evaluation import predict_probabilities
from keras_segup.metrics import confusion_matrix
from keras_segup.metrics import iou_from_confusion
from keras_segup.models import Segmenter


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--split", default="val")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a .keras file")
    which.add_argument("--preset", help="a preset name or folder (with weights)")
    parser.add_argument("--out", default="predictions")
    parser.add_argument("--mode", choices=("whole", "slide", "multiscale"), default="whole")
    parser.add_argument("--crop", type=int, nargs=2, default=(1024, 1024), metavar=("H", "W"))
    parser.add_argument("--stride", type=int, nargs=2, default=(683, 683), metavar=("H", "W"))
    return parser.parse_args()


def main():
    args = parse_args()
    if args.model:
        model = keras.saving.load_model(args.model)
    else:
        model = Segmenter.from_preset(args.preset)
    options = {"crop_size": tuple(args.crop), "stride": tuple(args.stride)} if args.mode != "whole" else {}
    pairs = cityscapes_pairs(args.data_root, args.split)
    dataset = keras_segup.data.cityscapes(args.data_root, args.split, batch_size=1)  # same order

    out = Path(args.out)
    (out / "labelIds").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    colors = keras_segup.visualize.palette("cityscapes")
    confusion = np.zeros((19, 19), np.int64)
    progress = Progbar(len(pairs), unit_name="image")
    for step, ((image_path, _), (images, labels)) in enumerate(zip(pairs, dataset), 1):
        image = np.asarray(images[0]).astype(np.uint8)
        classes = predict_probabilities(model, image[None], args.mode, **options)[0].argmax(-1)
        confusion += confusion_matrix(np.asarray(labels[0]), classes, 19)
        name = Path(image_path).name
        Image.fromarray(CITYSCAPES_TRAIN_TO_LABEL[classes]).save(out / "labelIds" / name)
        overlay = keras_segup.visualize.overlay(image, classes, colors)
        Image.fromarray(overlay).save(out / "overlays" / name.replace("_leftImg8bit", ""))
        progress.update(step)
    iou = iou_from_confusion(confusion)
    result = {"per_class_iou": iou, "mean_iou": np.nanmean(iou),
              "pixel_accuracy": np.trace(confusion) / max(confusion.sum(), 1)}
    print(format_report(result, list(CITYSCAPES_CLASSES)))
    print(f"Wrote {len(pairs)} labelId PNGs to {out / 'labelIds'} and overlays to {out / 'overlays'}")


if __name__ == "__main__":
    main()
