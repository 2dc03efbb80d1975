"""Benchmark: the exported ONNX and TFLite files against Keras, with their verification figures.

Usage: python tools/benchmark_export.py --backends tensorflow [--repeats N] [--presets NAME,NAME] [--sizes HxW,HxW]

The four families at 512x1024 and 1024x2048 (random weights,
batch-norm statistics calibrated on two synthetic scenes; a third is the input):
Keras `predict_on_batch` on each backend and, in the TensorFlow run, the
exported ONNX file in onnxruntime and the TFLite file in its interpreter,
with each file's size and the figures of its verification against Keras.
`--presets` and `--sizes` narrow it (one process holds every exported
graph of its run, so on a 24 GB machine run one preset at a time).
"""

import os
import sys

from keras_segup.utils.benchmark import FAMILY_PRESETS
from keras_segup.utils.benchmark import add_selection_arguments
from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.profiling import calibrate_batch_norm
from keras_segup.utils.profiling import time_call


def calibrated(name, size=(512, 1024)):
    """A preset's model with seeded random weights and batch-norm statistics of
    two synthetic street scenes (`profiling.calibrate_batch_norm`)."""
    import keras
    import numpy as np

    from keras_segup.data.synthetic import scene
    from keras_segup.models import Segmenter

    keras.utils.set_random_seed(0)  # the same random weights in every run
    model = Segmenter.from_preset(name, load_weights=False)
    calibrate_batch_norm(model, np.stack([scene(size, seed=seed)[0] for seed in (1, 2)]))
    return model


def measure(args):
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

    rows = []
    for size in args.sizes:
        x = scene(size, seed=0)[0][None].astype("float32")
        for name in args.presets or FAMILY_PRESETS:
            case = f"{name} @ {size[0]}x{size[1]}"
            model = calibrated(name)
            rows.append({"case": case, "runtime": f"keras predict ({keras.backend.backend()})",
                         "ms": time_call(lambda: model.predict_on_batch(x), args.repeats, warmup=1) * 1e3})
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
                                     "ms": time_call(lambda: run(x), args.repeats, warmup=1) * 1e3})
            keras.backend.clear_session()
    return rows


def print_table(backend, rows, flops):
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

if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table, add_selection_arguments))
