"""Benchmark: the Cityscapes training pipeline against a training step: which is the bottleneck.

Usage: python tools/benchmark_data.py [--backends jax,torch,tensorflow] [--repeats N]

Images per second of the Cityscapes training pipeline as `gai_cityscapes`'s
recipe runs it (1024x2048 PNGs decoded in parallel, random scale 0.5-2,
1024x1024 crops, flip, colour jitter, Gaussian blur, prefetch) next to the
images per second of a `fanet_r18_cityscapes` training step on the same
crops, compiled with its recipe (TorchSGD, OHEM, auxiliary losses): which
one is the bottleneck on this machine.
"""

import sys

from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.profiling import time_call


DATA_SIZE, DATA_CROP, DATA_IMAGES, TRAIN_BATCH = (1024, 2048), (1024, 1024), 12, 2


def measure(args):
    """Training-pipeline images/s on 1024x2048 PNGs, and FANet-R18 training images/s."""
    import tempfile

    import keras

    import keras_segup
    from keras_segup.models import Segmenter
    from keras_segup.recipes import preset_recipe
    from keras_segup.training import compile_for_recipe

    rows = []
    with tempfile.TemporaryDirectory() as root:
        keras_segup.data.write_cityscapes_layout(root, DATA_IMAGES, size=DATA_SIZE, split="train")
        batch = 4
        pipeline = preset_recipe("gai_cityscapes").scaled_to(batch).data_options()
        dataset = keras_segup.data.cityscapes(root, "train", seed=0, **pipeline)
        seconds = time_call(lambda: [None for _ in dataset], args.repeats, warmup=1)
        rows.append({"case": f"pipeline: decode + scale/crop {DATA_CROP[0]}x{DATA_CROP[1]} + flip + colour + blur",
                     "images_per_s": DATA_IMAGES // batch * batch / seconds})
        images, labels = next(iter(keras_segup.data.cityscapes(
            root, "train", batch_size=TRAIN_BATCH, crop_size=DATA_CROP, seed=0)))
    model = Segmenter.from_preset("fanet_r18_cityscapes", load_weights=False)
    model.build((None, None, None, 3))
    compile_for_recipe(model, preset_recipe("fanet_r18_cityscapes").scaled_to(TRAIN_BATCH), total_steps=100)
    x, y = keras.ops.convert_to_numpy(images), keras.ops.convert_to_numpy(labels)
    seconds = time_call(lambda: model.train_on_batch(x, y), max(2, args.repeats // 3), warmup=1)
    rows.append({"case": f"fanet_r18 train step (its recipe), batch {TRAIN_BATCH}, {DATA_CROP[0]}x{DATA_CROP[1]}",
                 "images_per_s": TRAIN_BATCH / seconds})
    return rows


def print_table(backend, rows, flops):
    print(f"\ndata vs compute on {backend} (images per second; 2 CPU cores)")
    for row in rows:
        print(f"{row['case']:<64} {row['images_per_s']:8.2f}")
    print(f"{'pipeline / training step ratio':<64} {rows[0]['images_per_s'] / rows[1]['images_per_s']:8.1f}x")

if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table))
