"""keras_segup quick start (`make demo`): train, evaluate and look at a segmenter in minutes on a CPU.

1. generates synthetic street scenes (`keras_segup.data.synthetic`) and a
   small validation set in the official Cityscapes layout;
2. trains a FANet (ResNet-18, slim head) with `model.fit` for about two
   minutes, with a progress bar, checkpoints and a log;
3. evaluates it on the Cityscapes-format sample (per-class IoU, mIoU);
4. writes to `demo_out/`: an overlay and an image | prediction | label
   figure of a validation scene, and the loss / mIoU curves.

Runs on whichever `KERAS_BACKEND` is set (TensorFlow when unset).
Options: `--epochs`, `--out`.
"""

import argparse
from pathlib import Path

from keras_segup.utils.compat import native_logs_silenced

with native_logs_silenced():  # keep TensorFlow's start-up lines out of the demo
    import numpy as np
    from PIL import Image

    import keras_segup
    import keras_segup.data
    from keras_segup import visualize
    from keras_segup.backbones.resnet import resnet_backbone
    from keras_segup.datasets_info import CITYSCAPES_CLASSES
    from keras_segup.datasets_info import CITYSCAPES_PALETTE
    from keras_segup.models import FANetSegmenter

SIZE = (128, 256)


def build_model():
    return FANetSegmenter(
        class_names=CITYSCAPES_CLASSES,
        palette=CITYSCAPES_PALETTE,
        backbone=resnet_backbone(18),
        head_kwargs={"channels": 64, "aux_channels": 32, "classifier_channels": 64},
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", default="demo_out")
    args = parser.parse_args()
    out = Path(args.out)

    print("1/4 data: 96 synthetic training scenes; 8 validation scenes in Cityscapes layout")
    train_data = keras_segup.data.synthetic(
        96, size=SIZE, training=True, batch_size=8, seed=0, scale_range=(0.75, 1.5)
    )
    keras_segup.data.write_cityscapes_layout(out / "cityscapes_sample", 8, size=SIZE, seed=10**6)
    val_data = keras_segup.data.cityscapes(out / "cityscapes_sample", "val", batch_size=4)

    print(f"2/4 training FANet-R18 for {args.epochs} epochs (log: {out / 'run/log.csv'})")
    model, _ = keras_segup.training.train(
        build_model, train_data, args.epochs, out / "run", val_data=val_data,
        resume=False, learning_rate=0.05,
    )

    print("3/4 evaluating on the Cityscapes-format sample")
    result = keras_segup.evaluate(model, val_data)

    print("4/4 pictures")
    images, labels = next(iter(val_data))
    image, label = np.asarray(images[0]).astype(np.uint8), np.asarray(labels[0])
    prediction = model.segment(image[None])[0]
    names, colors = model.labels()
    Image.fromarray(visualize.overlay(image, prediction, colors)).save(out / "overlay.png")
    visualize.side_by_side(image, prediction, label, colors, names, path=out / "comparison.png")
    visualize.plot_history(out / "run/log.csv", path=out / "training_curves.png")
    print(f"mIoU {100 * result['mean_iou']:.1f} on the sample; wrote {out}/overlay.png, "
          f"{out}/comparison.png and {out}/training_curves.png")


if __name__ == "__main__":
    main()
