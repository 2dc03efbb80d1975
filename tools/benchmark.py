"""Benchmarks for keras_segup, printed as tables.

Usage:
    python tools/benchmark.py ops|heads|models|macs|data|export [--backends jax,torch,tensorflow] [--repeats N]

Each backend runs in its own process; times are medians after warm-up.

`ops`: the specialised gathers in `keras_segup.ops` against the portable
`keras_segup.ops.reference` versions, at IFA/RSP-typical sizes, eager calls,
and their ratio.

`heads`: each decode head on the backbone features of one 1024x2048 image
(batch 1, float32, `predict_on_batch` of a functional model: jit on JAX,
tf.function on TensorFlow, eager on torch), its FLOPs (XLA's cost analysis,
counted once under JAX; 1 multiply-add = 2 FLOPs) and the achieved GFLOP/s
next to a 2048^3 `keras.ops.matmul` measured in the same process.

`models`: the Cityscapes presets (random weights) and keras-hub's
DeepLabV3-R50 as the reference, at 512x1024 and 1024x2048: parameters,
GFLOPs and `predict_on_batch` latency; `--presets` and `--sizes` pick
others.

`macs`: multiply-adds (XLA's cost analysis, JAX only, nothing is run) of
RSP-R101 against an output-stride-8 DeepLabV3-R101 at 1024x2048, the
RSP paper's comparison.

`data`: images per second of the Cityscapes training pipeline (1024x2048
PNGs, random scale, 1024x1024 crops, flip, jitter) next to the images per
second of a `fanet_r18_cityscapes` training step on the same crops: which
one is the bottleneck on this machine.

`export`: the four families at 512x1024 and 1024x2048 (random weights,
batch-norm statistics calibrated on two synthetic scenes; a third is the input):
Keras `predict_on_batch` on each backend and, in the TensorFlow run, the
exported ONNX file in onnxruntime and the TFLite file in its interpreter,
with each file's size and the figures of its verification against Keras.
`--presets` and `--sizes` narrow it (one process holds every exported
graph of its run, so on a 24 GB machine run one preset at a time).
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from keras_segup.utils.compat import deeplab_v3_spatial_pyramid_pooling
from keras_segup.utils.profiling import calibrate_batch_norm
from keras_segup.utils.profiling import jax_flops
from keras_segup.utils.profiling import time_call

BACKENDS = ("jax", "torch", "tensorflow")


def ops_cases():
    """(name, specialised fn, portable fn) at the sizes the decoders use."""
    import keras
    import numpy as np

    from keras_segup import ops as segup_ops
    from keras_segup.ops import reference

    rng = np.random.default_rng(0)
    low = keras.ops.convert_to_tensor(rng.normal(size=(1, 32, 64, 256)).astype("float32"))
    ys = (2 * np.arange(256) + 1) / 256 - 1
    xs = (2 * np.arange(512) + 1) / 512 - 1
    grid = keras.ops.convert_to_tensor(
        np.stack(np.meshgrid(xs, ys), -1)[None].astype("float32")
    )
    mid = keras.ops.convert_to_tensor(rng.normal(size=(1, 128, 256, 128)).astype("float32"))
    odd = keras.ops.convert_to_tensor(rng.normal(size=(1, 33, 65, 256)).astype("float32"))
    return [
        (
            "grid_sample bilinear 256ch 32x64->256x512",
            lambda: segup_ops.grid_sample(low, grid),
            lambda: reference.grid_sample(low, grid, "bilinear", "zeros", False),
        ),
        (
            "grid_sample nearest 256ch 32x64->256x512",
            lambda: segup_ops.grid_sample(low, grid, mode="nearest"),
            lambda: reference.grid_sample(low, grid, "nearest", "zeros", False),
        ),
        (
            "nearest_cell 256ch 32x64->256x512 (integer ratio)",
            lambda: segup_ops.nearest_cell(low, (256, 512))[0],
            lambda: reference.nearest_cell(low, (256, 512))[0],
        ),
        (
            "nearest_cell 256ch 33x65->256x512 (general)",
            lambda: segup_ops.nearest_cell(odd, (256, 512))[0],
            lambda: reference.nearest_cell(odd, (256, 512))[0],
        ),
        (
            "extract_windows 128ch 128x256 k=3",
            lambda: segup_ops.extract_windows(mid, 3),
            lambda: reference.extract_windows(mid, 3, 1),
        ),
        (
            "extract_windows 128ch 128x256 k=3 d=2",
            lambda: segup_ops.extract_windows(mid, 3, 2),
            lambda: reference.extract_windows(mid, 3, 2),
        ),
    ]


def run_ops(repeats):
    rows = []
    for name, specialised, portable in ops_cases():
        fast = time_call(specialised, repeats)
        slow = time_call(portable, repeats)
        rows.append({"case": name, "specialised_ms": fast * 1e3, "portable_ms": slow * 1e3})
    return rows


def print_ops_table(backend, rows, flops=None):
    print(f"\nkeras_segup.ops on {backend} (median ms, eager calls)")
    print(f"{'case':<52} {'specialised':>12} {'portable':>10} {'speed-up':>9}")
    for row in rows:
        ratio = row["portable_ms"] / row["specialised_ms"]
        print(
            f"{row['case']:<52} {row['specialised_ms']:12.2f} "
            f"{row['portable_ms']:10.2f} {ratio:8.1f}x"
        )


# head name -> (class path, kwargs, (stride, channels) of P2..P5): the
# configuration of each paper's model (FANet reduces layer1 by 2 more)
HEAD_CASES = {
    "GAI (R18 features)": (
        "keras_segup.models.gai.gai_head.GAIHead", {"num_classes": 19},
        ((4, 64), (8, 128), (16, 256), (32, 512)),
    ),
    "IFA (R50 features)": (
        "keras_segup.models.ifa.ifa_head.IFAHead", {"num_classes": 19},
        ((4, 256), (8, 512), (16, 1024), (32, 2048)),
    ),
    "FANet (R18 features, strides 8-64)": (
        "keras_segup.models.fanet.fanet_head.FANetHead", {"num_classes": 19},
        ((8, 64), (16, 128), (32, 256), (64, 512)),
    ),
    "RSP (R50 features)": (
        "keras_segup.models.rsp.rsp_head.RSPHead", {"num_classes": 19},
        ((4, 256), (8, 512), (16, 1024), (32, 2048)),
    ),
}
IMAGE_SIZE = (1024, 2048)


def _head_model(class_path, kwargs, levels):
    import importlib

    import keras
    import numpy as np

    module, name = class_path.rsplit(".", 1)
    head = getattr(importlib.import_module(module), name)(**kwargs)
    inputs = [keras.Input((None, None, c)) for _, c in levels]
    model = keras.Model(inputs, head(inputs))
    rng = np.random.default_rng(0)
    features = [
        np.abs(rng.normal(size=(1, -(-IMAGE_SIZE[0] // s), -(-IMAGE_SIZE[1] // s), c))).astype("float32")
        for s, c in levels
    ]
    return model, features


def _matmul_gflops(repeats):
    import keras
    import numpy as np

    a = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(2048, 2048)).astype("float32"))
    seconds = time_call(lambda: keras.ops.matmul(a, a), repeats)
    return 2 * 2048**3 / seconds / 1e9


def run_heads(repeats):
    import keras

    rows = [{"case": "keras.ops.matmul 2048^3", "gflops_per_s": _matmul_gflops(repeats)}]
    for name, (class_path, kwargs, levels) in HEAD_CASES.items():
        model, features = _head_model(class_path, kwargs, levels)
        seconds = time_call(lambda: model.predict_on_batch(features), repeats, warmup=1)
        row = {"case": name, "ms": seconds * 1e3, "params": model.count_params()}
        if keras.backend.backend() == "jax":
            row["gflops"] = jax_flops(model, features) / 1e9
        rows.append(row)
    return rows


def print_heads_table(backend, rows, flops):
    matmul = rows[0]["gflops_per_s"]
    print(f"\nheads on {backend}, features of a 1024x2048 image, batch 1 (median)")
    print(f"matmul reference: {matmul:.1f} GFLOP/s")
    print(f"{'head':<36} {'params':>9} {'GFLOPs':>8} {'ms':>9} {'GFLOP/s':>8} {'of matmul':>9}")
    for row in rows[1:]:
        gflops = flops.get(row["case"])
        rate = gflops / (row["ms"] / 1e3) if gflops else None
        print(
            f"{row['case']:<36} {row['params'] / 1e6:8.2f}M "
            f"{gflops if gflops else float('nan'):8.1f} {row['ms']:9.1f} "
            f"{rate if rate else float('nan'):8.1f} "
            f"{rate / matmul if rate else float('nan'):8.0%}"
        )


SIZES = ((512, 1024), (1024, 2048))
SELECTION = {"presets": (), "sizes": SIZES}  # --presets (empty: the suite's own), --sizes
FAMILY_PRESETS = ("gai_cityscapes", "fanet_r18_cityscapes", "ifa_r50_cityscapes", "rsp_r50_cityscapes")


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


def run_models(repeats):
    import keras
    import numpy as np

    from keras_segup.models import Segmenter

    builders = {name: (lambda n=name: Segmenter.from_preset(n, load_weights=False))
                for name in SELECTION["presets"] or FAMILY_PRESETS}
    if not SELECTION["presets"]:
        builders["keras-hub DeepLabV3-R50 (ASPP on P5)"] = _deeplab_v3_r50
    rows = []
    for name, build in builders.items():
        for size in SELECTION["sizes"]:
            # a fresh model per size: one static-shape trace each (keras-hub's
            # DeepLabV3 fails once TensorFlow relaxes a retrace to None sizes)
            model = build()
            x = np.random.default_rng(0).uniform(0, 255, (1, *size, 3)).astype("float32")
            seconds = time_call(lambda: model.predict_on_batch(x), repeats, warmup=1)
            row = {"case": f"{name} @ {size[0]}x{size[1]}", "ms": seconds * 1e3,
                   "params": model.count_params()}
            if keras.backend.backend() == "jax":
                row["gflops"] = jax_flops(model, [x]) / 1e9
            rows.append(row)
            keras.backend.clear_session()
    return rows


def print_models_table(backend, rows, flops):
    print(f"\nmodels on {backend}, batch 1, float32 (median ms; GFLOPs from XLA, 2 per multiply-add)")
    print(f"{'model @ input':<52} {'params':>9} {'GFLOPs':>8} {'ms':>9}")
    for row in rows:
        gflops = flops.get(row["case"], float("nan"))
        print(f"{row['case']:<52} {row['params'] / 1e6:8.2f}M {gflops:8.1f} {row['ms']:9.1f}")


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
    SpatialPyramidPooling = deeplab_v3_spatial_pyramid_pooling()

    from keras_segup.backbones import resnet_backbone
    from keras_segup.backbones.resnet import pyramid_extractor

    reference = resnet_backbone(101, deep_stem=True)
    backbone = type(reference).from_config({**reference.get_config(), "stackwise_num_strides": [1, 2, 1, 1]})
    images = keras.Input((None, None, 3))
    p5 = pyramid_extractor(backbone)(images)[3]
    logits = keras.layers.Conv2D(19, 1)(SpatialPyramidPooling(dilation_rates=[12, 24, 36])(p5))
    return keras.Model(images, keras.layers.UpSampling2D(8, interpolation="bilinear")(logits))


def run_macs(repeats):
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


def print_macs_table(backend, rows, flops):
    if not rows:
        return
    print(f"\nmultiply-adds at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, batch 1 (XLA cost analysis / 2)")
    for row in rows:
        print(f"{row['case']:<36} {row['params'] / 1e6:8.2f}M {row['gmacs']:9.1f} GMACs "
              f"{row['gmacs'] / rows[-1]['gmacs']:7.1%}")


DATA_SIZE, DATA_CROP, DATA_IMAGES, TRAIN_BATCH = (1024, 2048), (1024, 1024), 12, 2


def run_data(repeats):
    """Training-pipeline images/s on 1024x2048 PNGs, and FANet-R18 training images/s."""
    import tempfile

    import keras

    import keras_segup
    from keras_segup.models import Segmenter

    rows = []
    with tempfile.TemporaryDirectory() as root:
        keras_segup.data.write_cityscapes_layout(root, DATA_IMAGES, size=DATA_SIZE, split="train")
        batch = 4
        dataset = keras_segup.data.cityscapes(root, "train", batch_size=batch, crop_size=DATA_CROP, seed=0)
        seconds = time_call(lambda: [None for _ in dataset], repeats, warmup=1)
        rows.append({"case": f"pipeline: decode + scale/crop {DATA_CROP[0]}x{DATA_CROP[1]} + flip + jitter",
                     "images_per_s": DATA_IMAGES // batch * batch / seconds})
        images, labels = next(iter(keras_segup.data.cityscapes(
            root, "train", batch_size=TRAIN_BATCH, crop_size=DATA_CROP, seed=0)))
    model = Segmenter.from_preset("fanet_r18_cityscapes", load_weights=False)
    model.compile()
    x, y = keras.ops.convert_to_numpy(images), keras.ops.convert_to_numpy(labels)
    seconds = time_call(lambda: model.train_on_batch(x, y), max(2, repeats // 3), warmup=1)
    rows.append({"case": f"fanet_r18 train step, batch {TRAIN_BATCH}, {DATA_CROP[0]}x{DATA_CROP[1]}",
                 "images_per_s": TRAIN_BATCH / seconds})
    return rows


def print_data_table(backend, rows, flops):
    print(f"\ndata vs compute on {backend} (images per second; 2 CPU cores)")
    for row in rows:
        print(f"{row['case']:<64} {row['images_per_s']:8.2f}")
    print(f"{'pipeline / training step ratio':<64} {rows[0]['images_per_s'] / rows[1]['images_per_s']:8.1f}x")


def _calibrate_batch_norm(model, size=(512, 1024)):
    """Batch-norm statistics of two synthetic street scenes (`profiling.calibrate_batch_norm`)."""
    from keras_segup.data.synthetic import scene

    calibrate_batch_norm(model, np.stack([scene(size, seed=seed)[0] for seed in (1, 2)]))


def run_export(repeats):
    """Keras predict latency; on TensorFlow also the exported ONNX and TFLite files and their check."""
    import tempfile
    from functools import partial

    import keras

    from keras_segup.data.synthetic import scene
    from keras_segup.export import ExportError
    from keras_segup.export import export_onnx
    from keras_segup.export import export_tflite
    from keras_segup.export.onnx import onnx_runner
    from keras_segup.export.tflite import tflite_runner
    from keras_segup.models import Segmenter

    rows = []
    for size in SELECTION["sizes"]:
        x = scene(size, seed=0)[0][None].astype("float32")
        for name in SELECTION["presets"] or FAMILY_PRESETS:
            case = f"{name} @ {size[0]}x{size[1]}"
            keras.utils.set_random_seed(0)  # the same random weights in every run
            model = Segmenter.from_preset(name, load_weights=False)
            _calibrate_batch_norm(model)
            rows.append({"case": case, "runtime": f"keras predict ({keras.backend.backend()})",
                         "ms": time_call(lambda: model.predict_on_batch(x), repeats, warmup=1) * 1e3})
            if keras.backend.backend() == "tensorflow":
                with tempfile.TemporaryDirectory() as tmp:
                    for fmt, export, runner, label in (
                        ("onnx", export_onnx, onnx_runner, "onnxruntime"),
                        ("tflite", export_tflite, partial(tflite_runner, num_threads=os.cpu_count()),
                         f"TFLite ({os.cpu_count()} threads)"),
                    ):
                        try:
                            report = export(model, f"{tmp}/model.{fmt}", size)
                        except ExportError as error:  # a refused export is a result too
                            rows.append({"case": case, "runtime": label, "error": str(error)})
                            continue
                        run = runner(report["path"])
                        rows.append({"case": case, "runtime": label, "mb": report["bytes"] / 2**20,
                                     "max_abs_logit": report["max_abs_logit"],
                                     "max_abs_diff": report["max_abs_diff"],
                                     "agreement": report["class_agreement"],
                                     "ms": time_call(lambda: run(x), repeats, warmup=1) * 1e3})
            keras.backend.clear_session()
    return rows


def print_export_table(backend, rows, flops):
    print(f"\nexported vs Keras on {backend}, batch 1, float32, random weights (median ms; "
          "export check: max abs logit difference, class-map agreement with Keras)")
    for row in rows:
        if "error" in row:
            print(f"{row['case']:<34} {row['runtime']:<26} refused: {row['error']}")
            continue
        check = ""
        if "agreement" in row:
            check = (f"  {row['mb']:6.1f} MB  max |logit| {row['max_abs_logit']:7.1f}  "
                     f"diff {row['max_abs_diff']:.1e}  {100 * row['agreement']:.3f}%")
        print(f"{row['case']:<34} {row['runtime']:<26} {row['ms']:9.1f}{check}")


SUITES = {"ops": run_ops, "heads": run_heads, "models": run_models, "macs": run_macs, "data": run_data,
          "export": run_export}
PRINTERS = {
    "ops": print_ops_table,
    "heads": print_heads_table,
    "models": print_models_table,
    "macs": print_macs_table,
    "data": print_data_table,
    "export": print_export_table,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--presets", default="",
                        help="models and export suites: presets, NAME,NAME (default: the four Cityscapes "
                             "families; models adds keras-hub's DeepLabV3-R50 then)")
    parser.add_argument("--sizes", default=",".join(f"{h}x{w}" for h, w in SIZES),
                        help="models and export suites: input sizes, HxW,HxW")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    SELECTION["presets"] = tuple(filter(None, args.presets.split(",")))
    SELECTION["sizes"] = tuple(tuple(int(n) for n in size.split("x")) for size in args.sizes.split(","))

    if args.child:  # one backend, in this process: print rows as JSON
        print("ROWS " + json.dumps(SUITES[args.suite](args.repeats)))
        return 0

    import platform

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    results = {}
    backends = args.backends.split(",")
    # JAX first: its XLA cost analysis gives the FLOP counts for every table
    for backend in sorted(backends, key=lambda b: b != "jax"):
        out = subprocess.run(
            [sys.executable, __file__, args.suite, "--child", f"--repeats={args.repeats}",
             f"--presets={args.presets}", f"--sizes={args.sizes}"],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
        )
        lines = [l for l in out.stdout.splitlines() if l.startswith("ROWS ")]
        if out.returncode or not lines:
            print(f"\n{backend}: failed\n{out.stderr[-3000:]}")
            continue
        results[backend] = json.loads(lines[-1][5:])
    flops = {r["case"]: r["gflops"] for r in results.get("jax", []) if "gflops" in r}
    for backend in backends:
        if backend in results:
            PRINTERS[args.suite](backend, results[backend], flops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
