"""Benchmark: multiply-adds of RSP-R101 against an output-stride-8 DeepLabV3-R101 (JAX, nothing is run).

Usage: python tools/benchmark_macs.py --backends jax

Multiply-adds (XLA's cost analysis, JAX only, nothing is run) of
RSP-R101 against an output-stride-8 DeepLabV3-R101 at 1024x2048, the
RSP paper's comparison.
"""

import sys

from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.compat import deeplab_v3_spatial_pyramid_pooling
from keras_segup.utils.profiling import jax_flops

IMAGE_SIZE = (1024, 2048)


def _deeplab_v3_r101_os8():
    """DeepLabV3-R101 at output stride 8, as the papers compare against.

    The same deep-stem ResNet-101 as RSP-R101 with stride 1 in its last two
    stages (a dilated ResNet computes exactly as many multiply-adds as this
    one: dilation moves the taps, not their number), keras-hub's ASPP
    (256 channels, image pooling, 1x1 projection) on the stride-8 P5, a 1x1
    classifier and bilinear upsampling. keras-hub's own DeepLabV3 assumes a
    stride-32 P5, so it is assembled here. Only for counting operations.
    """
    import keras

    from keras_segup.backbones import PAPER_BACKBONES
    from keras_segup.backbones import PaperResNetBackbone
    from keras_segup.backbones.pyramid import pyramid_extractor

    SpatialPyramidPooling = deeplab_v3_spatial_pyramid_pooling()

    backbone = PaperResNetBackbone(**{**PAPER_BACKBONES["resnet101_deep"], "stackwise_strides": (1, 2, 1, 1)})
    images = keras.Input((None, None, 3))
    p5 = pyramid_extractor(backbone)(images)[3]
    logits = keras.layers.Conv2D(19, 1)(SpatialPyramidPooling(dilation_rates=[12, 24, 36])(p5))
    return keras.Model(images, keras.layers.UpSampling2D(8, interpolation="bilinear")(logits))


def measure(args):
    import keras
    import numpy as np

    from keras_segup.models import Segmenter

    if keras.backend.backend() != "jax":
        return []
    x = np.zeros((1, *IMAGE_SIZE, 3), "float32")
    rows = []
    for name, build in (
        ("rsp_r101_cityscapes", lambda: Segmenter.from_preset("rsp_r101_cityscapes", load_weights=False)),
        ("DeepLabV3-R101, output stride 8", _deeplab_v3_r101_os8),
    ):
        model = build()
        model(x[:, :64, :64])  # builds it
        rows.append({"case": name, "params": model.count_params(), "gmacs": jax_flops(model, [x]) / 2e9})
        keras.backend.clear_session()
    return rows


def print_table(backend, rows, flops):
    if not rows:
        return
    print(f"\nmultiply-adds at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, batch 1 (XLA cost analysis / 2)")
    for row in rows:
        print(f"{row['case']:<36} {row['params'] / 1e6:8.2f}M {row['gmacs']:9.1f} GMACs "
              f"{row['gmacs'] / rows[-1]['gmacs']:7.1%}")

if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table))
