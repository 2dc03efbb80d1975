"""Trains a segmenter on Cityscapes with `model.fit`, on whichever KERAS_BACKEND is set.

    KERAS_BACKEND=jax python examples/train_cityscapes.py --data-root /data/cityscapes \\
        --preset fanet_r18_cityscapes --epochs 200 --batch-size 8 --crop 1024 1024

Every epoch writes `<output>/last.keras`, a row of `<output>/log.csv` (plot it
with `keras_segup.visualize.plot_history`) and the resume state; run the same
command again after an interruption and training continues from the last
finished epoch (`--restart` starts afresh). `--distribute data_parallel`
splits each batch over all local devices (JAX and TensorFlow).
`--synthetic N` trains on N generated street scenes instead of a dataset.
"""

import argparse

import keras_segup
from keras_segup.models import Segmenter


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-root", help="Cityscapes root (leftImg8bit/, gtFine/)")
    source.add_argument("--synthetic", type=int, metavar="N", help="train on N synthetic scenes")
    parser.add_argument("--preset", default="fanet_r18_cityscapes", help="preset name or folder")
    parser.add_argument("--pretrained", action="store_true", help="start from the preset's weights")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, nargs=2, default=(1024, 1024), metavar=("H", "W"))
    parser.add_argument("--lr", type=float, default=0.01, help="peak learning rate")
    parser.add_argument("--loss", choices=("auto", "ohem"), default="auto")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--no-val", action="store_true", help="skip validation each epoch")
    parser.add_argument("--output", default="runs/train", help="run folder")
    parser.add_argument("--restart", action="store_true", help="ignore an interrupted run's state")
    parser.add_argument("--distribute", choices=("data_parallel",), default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def datasets(args):
    options = dict(batch_size=args.batch_size, crop_size=tuple(args.crop), seed=args.seed)
    if args.synthetic:
        size = tuple(args.crop)
        train = keras_segup.data.synthetic(args.synthetic, size=size, training=True, **options)
        val = keras_segup.data.synthetic(max(2, args.synthetic // 8), size=size, seed=10**6)
    else:
        train = keras_segup.data.cityscapes(args.data_root, "train", **options)
        val = keras_segup.data.cityscapes(args.data_root, "val")
    return train, None if args.no_val else val


def main(argv=None):
    args = parse_args(argv)
    train_data, val_data = datasets(args)
    model, history = keras_segup.training.train(
        lambda: Segmenter.from_preset(args.preset, load_weights=args.pretrained),
        train_data,
        epochs=args.epochs,
        output_dir=args.output,
        val_data=val_data,
        steps_per_epoch=args.steps_per_epoch,
        resume=not args.restart,
        distribute=args.distribute,
        loss=args.loss,
        learning_rate=args.lr,
    )
    print(f"Saved {args.output}/final.keras; per-epoch log in {args.output}/log.csv")
    return model, history


if __name__ == "__main__":
    main()
