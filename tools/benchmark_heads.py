"""Benchmark: each decode head on the backbone features of one 1024x2048 image.

Usage: python tools/benchmark_heads.py [--backends jax,torch,tensorflow] [--repeats N]

Each decode head on the backbone features of one 1024x2048 image
(batch 1, float32, `predict_on_batch` of a functional model: jit on JAX,
tf.function on TensorFlow, eager on torch), its FLOPs (XLA's cost analysis,
counted once under JAX; 1 multiply-add = 2 FLOPs) and the achieved GFLOP/s
next to a 2048^3 `keras.ops.matmul` measured in the same process.
"""

import sys

from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.profiling import jax_flops
from keras_segup.utils.profiling import time_call


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


def measure(args):
    import keras

    rows = [{"case": "keras.ops.matmul 2048^3", "gflops_per_s": _matmul_gflops(args.repeats)}]
    for name, (class_path, kwargs, levels) in HEAD_CASES.items():
        model, features = _head_model(class_path, kwargs, levels)
        seconds = time_call(lambda: model.predict_on_batch(features), args.repeats, warmup=1)
        row = {"case": name, "ms": seconds * 1e3, "params": model.count_params()}
        if keras.backend.backend() == "jax":
            row["gflops"] = jax_flops(model, features) / 1e9
        rows.append(row)
    return rows


def print_table(backend, rows, flops):
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

if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table))
