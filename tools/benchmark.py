"""Benchmarks for keras_segup, printed as tables.

Usage:
    python tools/benchmark.py ops [--backends jax,torch,tensorflow] [--repeats N]

`ops`: for each backend (each in its own process), the median wall time of
the specialised gathers in `keras_segup.ops` against the portable
`keras_segup.ops.reference` versions, at IFA/RSP-typical sizes, after
warm-up, and their ratio.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BACKENDS = ("jax", "torch", "tensorflow")


def _sync(x):
    """Waits for asynchronous backends (JAX) to finish computing `x`."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(x)
    return x


def time_call(fn, repeats, warmup=2):
    """Median seconds of `fn()` over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        _sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def print_ops_table(backend, rows):
    print(f"\nkeras_segup.ops on {backend} (median ms, eager calls)")
    print(f"{'case':<52} {'specialised':>12} {'portable':>10} {'speed-up':>9}")
    for row in rows:
        ratio = row["portable_ms"] / row["specialised_ms"]
        print(
            f"{row['case']:<52} {row['specialised_ms']:12.2f} "
            f"{row['portable_ms']:10.2f} {ratio:8.1f}x"
        )


SUITES = {"ops": run_ops}
PRINTERS = {"ops": print_ops_table}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # one backend, in this process: print rows as JSON
        print("ROWS " + json.dumps(SUITES[args.suite](args.repeats)))
        return 0

    import platform

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for backend in args.backends.split(","):
        out = subprocess.run(
            [sys.executable, __file__, args.suite, "--child", f"--repeats={args.repeats}"],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
        )
        lines = [l for l in out.stdout.splitlines() if l.startswith("ROWS ")]
        if out.returncode or not lines:
            print(f"\n{backend}: failed\n{out.stderr[-3000:]}")
            continue
        PRINTERS[args.suite](backend, json.loads(lines[-1][5:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
