"""Benchmark: every TFLite quantization of the presets, with its size, class agreement and latency.

Usage: python tools/benchmark_quantization.py --backends tensorflow [--presets NAME,NAME]
       [--sizes HxW (default 512x1024)] [--repeats N] [--calibration N] [--keep-float N,OP+OP]
       [--quantizations float32,float16,dynamic_range,int8,int16x8] [--train-steps N] [--qat-steps N]

For each preset (default: the four families on their ResNets and on
EfficientNet-Lite0) the model has seeded random weights whose batch-norm
statistics come from two synthetic street scenes (as in
`benchmark_export.py`); with `--train-steps N` it is then trained for N
Adam steps on augmented synthetic scenes at half the input size, so that
its logits are as decisive as a trained network's (random weights leave
near ties that even float16 flips). It is converted to TFLite as float32, float16,
dynamic-range, full-integer int8, 16x8 and int8 with the `--keep-float`
most lossy layers, or the named TFLite op types, kept in float (selective). int8 and 16x8 calibrate on
`--calibration` frames: synthetic scenes of many seeds and, when
`../shared/data` is there, the real frames flipped, rescaled and
re-lit. Agreement is the share of class pixels equal to Keras's on the
sample frames (the real Cityscapes and VOC frames when present, plus two
synthetic scenes none of the calibration frames is), resized to the
input size; "export" says whether `export_tflite` would write the file
(its bound: float16 99.9%, the others 97%). Latency: the TFLite
interpreter with as many threads as cores, median of `--repeats` after
one warm-up, on a synthetic scene.

With `--qat-steps N` the model is then fine-tuned for N steps through the
rounding of its int8 file (`keras_segup.quantization.QuantizationAwareModel`:
ranges calibrated on the calibration frames, Adam from 1e-5 with cosine
decay, batch norms frozen, on new synthetic scenes labelled with the model's
own classes before the fine-tuning), its kernels baked onto the int8 grid,
and converted again: those rows' agreement is with the fine-tuned model
(what `export_tflite` checks) and, in the JSON and the table, with the model
before the fine-tuning.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_export import calibrated  # noqa: E402

from keras_segup.utils.benchmark import add_selection_arguments  # noqa: E402
from keras_segup.utils.benchmark import presets_argument  # noqa: E402
from keras_segup.utils.benchmark import run_benchmark  # noqa: E402
from keras_segup.utils.profiling import time_call  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRESETS = (
    "fanet_r18_cityscapes", "gai_cityscapes", "ifa_r50_cityscapes", "rsp_r50_cityscapes",
    "fanet_efficientnet_lite0_cityscapes", "gai_efficientnet_lite0_cityscapes",
    "ifa_efficientnet_lite0_cityscapes", "rsp_efficientnet_lite0_cityscapes",
)


def real_frames():
    """The sample frames of `../shared/data` (RGB float32, own sizes); none without it."""
    from keras_segup.cli import read_image

    files = sorted(SHARED_DATA.glob("cityscapes/leftImg8bit/*/*/*.png")) + sorted(SHARED_DATA.glob("voc/*_image.png"))
    return [read_image(path)[0].astype("float32") for path in files]


def resized(image, size):
    import keras

    return keras.ops.convert_to_numpy(keras.ops.image.resize(image[None], size))[0]


def calibration_frames(size, count, seed=0):
    """`count` varied frames: synthetic scenes and re-lit, rescaled, flipped real frames."""
    import numpy as np

    from keras_segup.data.synthetic import scene

    rng = np.random.default_rng(seed)
    real = real_frames()
    frames = []
    for index in range(count):
        if real and index % 2:
            image = real[index // 2 % len(real)]
            scale = rng.uniform(1.0, 2.0)  # a random crop of 1/scale of the frame
            h, w = image.shape[:2]
            ch, cw = int(h / scale), int(w / scale)
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            image = image[top:top + ch, left:left + cw]
            if rng.random() < 0.5:
                image = image[:, ::-1]
            image = np.clip(image * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30), 0, 255)
            frames.append(resized(image.astype("float32"), size))
        else:
            frames.append(scene(size, seed=1000 + index)[0].astype("float32"))
    return np.stack(frames)


def sample_frames(size):
    """The frames agreement is measured on: the real ones, and two unseen synthetic scenes."""
    import numpy as np

    from keras_segup.data.synthetic import scene

    frames = [resized(image, size) for image in real_frames()]
    frames += [scene(size, seed=seed)[0].astype("float32") for seed in (7000, 7001)]
    return np.stack(frames)


def trained(model, steps, size):
    """`model` after `steps` Adam steps (batch 2, cosine decay from 1e-3) on augmented synthetic
    scenes at `size`, as docs/benchmarks.md trains IFA before its export: decisive logits."""
    import keras

    from keras_segup.data.synthetic import synthetic

    if steps:
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)))
        data = synthetic(2 * steps, size=size, training=True, batch_size=2, seed=0)
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return model


def quantization_aware(model, steps, size, calibration):
    """`model` after `steps` quantization-aware Adam steps (batch 2, cosine decay from 1e-5, batch
    norms frozen) on new augmented synthetic scenes at `size`, labelled with the model's own classes
    before the fine-tuning (so that it learns to keep them through the rounding), its ranges first
    calibrated on `calibration` and its kernels baked onto the int8 grid at the end."""
    import keras
    import numpy as np

    from keras_segup.data.synthetic import synthetic
    from keras_segup.quantization import QuantizationAwareModel

    images = np.concatenate([x for x, _ in synthetic(2 * steps, size=size, training=True, batch_size=2,
                                                     seed=1).take(steps).as_numpy_iterator()])
    classes = np.concatenate([model.predict_on_batch(images[i:i + 2]).argmax(-1)
                              for i in range(0, len(images), 2)]).astype("int32")
    qat = QuantizationAwareModel(model, sample_size=size)
    qat.calibrate(np.stack([resized(frame, size) for frame in calibration]))
    qat.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-5, steps)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(images, classes, batch_size=2, epochs=1, verbose=0)
    qat.bake()
    return model


def converted(model, name, size, variants, calibration, samples, x, repeats, qat_steps, expected, original=None):
    """A row per variant: `model` converted, its file's agreement with `expected` (the Keras
    model's classes on `samples`; and with `original`, the classes before a fine-tuning), size and
    latency on `x`."""
    import tempfile

    import numpy as np

    from keras_segup.export import ExportError
    from keras_segup.export.common import MIN_AGREEMENT
    from keras_segup.export.tflite import convert_tflite
    from keras_segup.export.tflite import isolated_runner
    from keras_segup.export.tflite import tflite_runner

    rows = []
    for quantization, keep in variants:
        kept = "+".join(keep) if isinstance(keep, tuple) else keep
        label = (quantization or "float32") + (f" keep {kept} float" if keep else "")
        row = {"case": f"{name} @ {size[0]}x{size[1]}", "quantization": label, "qat_steps": qat_steps}
        options = {"input_size": size, "output": "logits", "quantization": quantization,
                   "keep_float": keep, "representative_data": calibration}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.tflite"
            try:
                convert_tflite(model, path, options)
                # in a child process (a quantized file can crash the runtime), one thread
                got = isolated_runner(path)(samples).argmax(-1)
                run = tflite_runner(path, num_threads=os.cpu_count())
            except ExportError as error:  # not convertible, or the interpreter refuses it
                rows.append({**row, "error": str(error)[:300]})
                continue
            row.update(
                mb=path.stat().st_size / 2**20,
                agreement=float((got == expected).mean()),
                per_frame=[float(v) for v in (got == expected).mean(axis=(1, 2))],
                ms=time_call(lambda: run(x), repeats, warmup=1) * 1e3,
            )
            if original is not None:
                row["agreement_before_fine_tuning"] = float((got == original).mean())
            row["exported"] = row["agreement"] >= MIN_AGREEMENT[quantization]
            rows.append(row)
        print(f"{row['case']} {label}: {row.get('agreement', row.get('error'))}", file=sys.stderr)
    return rows


def classes(model, frames):
    """`model`'s class map of each frame, one frame per call."""
    import numpy as np

    return np.concatenate([model.predict_on_batch(frame[None]) for frame in frames]).argmax(-1)


def measure(args):
    """Converts each preset in each quantization (and again after the quantization-aware
    fine-tuning); size, agreement with Keras, latency."""
    import keras

    from keras_segup.data.synthetic import scene

    if keras.backend.backend() != "tensorflow":
        return []
    rows = []
    for size in args.sizes:
        calibration = calibration_frames(size, args.calibration)
        samples = sample_frames(size)
        x = scene(size, seed=0)[0][None].astype("float32")
        variants = [(None if name == "float32" else name, 0) for name in args.quantizations]
        variants += [("int8", keep) for keep in args.keep_float]
        half = (size[0] // 2, size[1] // 2)
        for name in args.presets or PRESETS:
            model = trained(calibrated(name), args.train_steps, half)
            original = classes(model, samples)
            rows += converted(model, name, size, variants, calibration, samples, x, args.repeats, 0, original)
            if args.qat_steps:
                model = quantization_aware(model, args.qat_steps, half, calibration)
                rows += converted(model, name, size, variants, calibration, samples, x, args.repeats,
                                  args.qat_steps, classes(model, samples), original)
            keras.backend.clear_session()
    return rows


def print_table(backend, rows, flops):
    if not rows:
        return
    print(f"\nTFLite quantizations on {backend}: random weights, batch-norm statistics of two synthetic "
          f"scenes, then the --train-steps on synthetic scenes; agreement of class maps with Keras on the sample frames; TFLite ms with "
          f"{os.cpu_count()} threads (median)")
    print(f"{'preset @ input':<46} {'quantization':<22} {'MB':>7} {'agreement':>10} {'ms':>8}  export")
    for row in rows:
        if "error" in row:
            print(f"{row['case']:<46} {row['quantization']:<22} failed: {row['error']}")
            continue
        verdict = "written" if row["exported"] else "refused"
        fine_tuned = (f"  ({row['qat_steps']} quantization-aware steps; with the model before them "
                      f"{100 * row['agreement_before_fine_tuning']:.2f}%)" if row.get("qat_steps") else "")
        print(f"{row['case']:<46} {row['quantization']:<22} {row['mb']:7.1f} "
              f"{100 * row['agreement']:9.2f}% {row['ms']:8.1f}  {verdict}{fine_tuned}")


QUANTIZATION_NAMES = ("float32", "float16", "dynamic_range", "int8", "int16x8")


def quantizations_argument(text):
    import argparse

    names = tuple(presets_argument(text))
    unknown = [name for name in names if name not in QUANTIZATION_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown quantization {unknown}; choose from {QUANTIZATION_NAMES}")
    return names


def keep_float_argument(text):
    """`"16,BATCH_MATMUL+SOFTMAX"` -> `(16, ("BATCH_MATMUL", "SOFTMAX"))`."""
    return tuple(int(item) if item.isdigit() else tuple(item.split("+")) for item in presets_argument(text))


def add_arguments(parser):
    add_selection_arguments(parser)
    parser.set_defaults(sizes=((512, 1024),))
    parser.add_argument("--train-steps", type=int, default=0,
                        help="Adam steps on synthetic scenes at half the input size before converting "
                        "(default 0: random weights)")
    parser.add_argument("--qat-steps", type=int, default=0,
                        help="quantization-aware fine-tuning steps after the training, the kernels then "
                        "baked onto the int8 grid (default 0: none); agreement is with the fine-tuned "
                        "model, and with the model before it in the JSON")
    parser.add_argument("--calibration", type=int, default=48, help="calibration frames (default 48)")
    parser.add_argument("--quantizations", type=quantizations_argument, default=QUANTIZATION_NAMES,
                        help=f"N,N of {','.join(QUANTIZATION_NAMES)} (default all)")
    parser.add_argument("--keep-float", type=keep_float_argument, default=(8,),
                        help="selective int8 variants, comma-separated: N (the N most lossy layers kept "
                        "float) or TFLite op names joined by + (BATCH_MATMUL+SOFTMAX); default 8")


if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table, add_arguments))
