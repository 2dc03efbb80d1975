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
from PIL import Image

import keras_segup
from keras_segup.data.cityscapes import cityscapes_pairs
from keras_segup.data.labels import CITYSCAPES_TRAIN_TO_LABEL
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
    names = iter([Path(image).name for image, _ in cityscapes_pairs(args.data_root, args.split)])
    dataset = keras_segup.data.cityscapes(args.data_root, args.split, batch_size=1)  # same order
    out = Path(args.out)
    (out / "labelIds").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    _, colors = model.labels()

    def write(images, classes):
        name = next(names)
        Image.fromarray(CITYSCAPES_TRAIN_TO_LABEL[classes[0]]).save(out / "labelIds" / name)
        overlay = keras_segup.visualize.overlay(images[0].astype(np.uint8), classes[0], colors)
        Image.fromarray(overlay).save(out / "overlays" / name.replace("_leftImg8bit", ""))

    keras_segup.evaluate(model, dataset, mode=args.mode, on_prediction=write, **options)
    print(f"Wrote labelId PNGs to {out / 'labelIds'} and overlays to {out / 'overlays'}")


if __name__ == "__main__":
    main()
