"""Benchmark: the presets against keras-hub's DeepLabV3-R50, parameters, GFLOPs and latency.

Usage: python tools/benchmark_models.py [--backends ...] [--repeats N] [--presets NAME,NAME] [--sizes HxW,HxW]

The Cityscapes presets (random weights) and keras-hub's
DeepLabV3-R50 as the reference, at 512x1024 and 1024x2048: parameters,
GFLOPs and `predict_on_batch` latency (`keras_segup.utils.latency`: median
and min-max of `--repeats` calls after one warm-up call, how many batch
norms run folded); `--presets` and `--sizes` pick others.
"""

import sys

from keras_segup.utils.benchmark import FAMILY_PRESETS
from keras_segup.utils.benchmark import add_selection_arguments
from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.profiling import jax_flops
from keras_segup.utils.latency import latency


def _deeplab_v3_r50():
    """keras-hub's DeepLabV3 on a ResNet-50 (ASPP rates 6/12/18 on its P5)."""
    import keras_hub

    from keras_segup.backbones import resnet_backbone

    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=resnet_backbone(50),
        spatial_pyramid_pooling_key="P5",
        upsampling_size=32,
        dilation_rates=[6, 12, 18],
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=19)


def measure(args):
    import keras
    import numpy as np

    from keras_segup.models import Segmenter

    builders = {name: (lambda n=name: Segmenter.from_preset(n, load_weights=False))
                for name in args.presets or FAMILY_PRESETS}
    if not args.presets:
        builders["keras-hub DeepLabV3-R50 (ASPP on P5)"] = _deeplab_v3_r50
    rows = []
    for name, build in builders.items():
        for size in args.sizes:
            # a fresh model per size: one static-shape trace each (keras-hub's
            # DeepLabV3 fails once TensorFlow relaxes a retrace to None sizes)
            model = build()
            result = latency(model, size, repeats=args.repeats, warmup=1)
            result.pop("machine")  # the frame records it once per backend
            row = {"case": f"{name} @ {size[0]}x{size[1]}", "ms": result["median_ms"], **result,
                   "params": model.count_params()}
            if keras.backend.backend() == "jax":
                x = np.zeros((1, *size, 3), "float32")
                row["gflops"] = jax_flops(model, [x]) / 1e9
            rows.append(row)
            keras.backend.clear_session()
    return rows


def print_table(backend, rows, flops):
    print(f"models on {backend}, batch 1, float32: ms per call, median (min-max) of "
          f"{rows[0]['repeats']} calls after {rows[0]['warmup']} warm-up call; GFLOPs from XLA, 2 per multiply-add")
    print(f"{'model @ input':<52} {'params':>9} {'GFLOPs':>8} {'ms':>22} {'BN folded':>10}")
    for row in rows:
        gflops = flops.get(row["case"], float("nan"))
        timing = f"{row['ms']:.0f} ({row['min_ms']:.0f}-{row['max_ms']:.0f})"
        folded = f"{row['batch_norm_folded']}/{row['batch_norms']}"
        print(f"{row['case']:<52} {row['params'] / 1e6:8.2f}M {gflops:8.1f} {timing:>22} {folded:>10}")

if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table, add_selection_arguments))
