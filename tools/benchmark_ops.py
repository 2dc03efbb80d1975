"""Benchmark: the specialised ops of keras_segup.ops against the portable reference.

Usage: python tools/benchmark_ops.py [--backends jax,torch,tensorflow] [--repeats N]

The specialised gathers, resizes and convolutions in `keras_segup.ops`
against the portable `keras_segup.ops.reference` versions, at the sizes the
decoders use (features of a 1024x2048 image), eager calls, and their ratio.
"""

import sys

from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.profiling import time_call


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
    logits = keras.ops.convert_to_tensor(rng.normal(size=(1, 256, 512, 19)).astype("float32"))
    fine = keras.ops.convert_to_tensor(rng.normal(size=(1, 256, 512, 256)).astype("float32"))
    pointwise = keras.ops.convert_to_tensor(rng.normal(size=(1, 1, 256, 128)).astype("float32") * 0.05)
    spatial = keras.ops.convert_to_tensor(rng.normal(size=(3, 3, 128, 128)).astype("float32") * 0.05)
    return [
        (
            "resize_bilinear 19ch 256x512->1024x2048 align_corners",
            lambda: segup_ops.resize_bilinear(logits, (1024, 2048), True),
            lambda: reference.resize_bilinear(logits, (1024, 2048), True),
        ),
        (
            "resize_bilinear 19ch 256x512->1024x2048 half-pixel",
            lambda: segup_ops.resize_bilinear(logits, (1024, 2048), False),
            lambda: reference.resize_bilinear(logits, (1024, 2048), False),
        ),
        (
            "conv2d 1x1 256->128ch 256x512",
            lambda: segup_ops.conv2d(fine, pointwise),
            lambda: reference.conv2d(fine, pointwise, None, (1, 1), (0, 0), (1, 1)),
        ),
        (
            "conv2d 3x3 128->128ch 128x256, ReLU",
            lambda: segup_ops.conv2d(mid, spatial, padding=1, activation="relu"),
            lambda: reference.conv2d(mid, spatial, None, (1, 1), (1, 1), (1, 1), "relu"),
        ),
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


def measure(args):
    rows = []
    for name, specialised, portable in ops_cases():
        fast = time_call(specialised, args.repeats)
        slow = time_call(portable, args.repeats)
        rows.append({"case": name, "specialised_ms": fast * 1e3, "portable_ms": slow * 1e3})
    return rows


def print_table(backend, rows, flops):
    print(f"\nkeras_segup.ops on {backend} (median ms, eager calls)")
    print(f"{'case':<52} {'specialised':>12} {'portable':>10} {'speed-up':>9}")
    for row in rows:
        ratio = row["portable_ms"] / row["specialised_ms"]
        print(
            f"{row['case']:<52} {row['specialised_ms']:12.2f} "
            f"{row['portable_ms']:10.2f} {ratio:8.1f}x"
        )

if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table))
