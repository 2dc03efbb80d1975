"""Benchmark: each decode head on the backbone features of one image, beside the official PyTorch head.

Usage: python tools/benchmark_heads.py [--backends jax,torch,tensorflow] [--repeats N]
    [--sizes 1024x2048,512x1024] [--heads gai,ifa,fanet,rsp]
    [--official-fanet DIR] [--official-gai DIR] [--official-ifa DIR] [--json FILE]
    [--keep-freed-memory]

Each head maps the backbone features of one HxW image (batch 1, float32,
random normal features, ReLU'd) to logits at the image's size, exactly what
the official model computes after its encoder: FANet and GAI their main
logits, IFA its main and auxiliary logits (its eval forward computes both).
Ours runs as `predict_on_batch` of a functional model (jit on JAX,
tf.function on TensorFlow, eager torch under no_grad), a `HostOutputsModel`
as every segmenter is (the logits come back as numpy arrays without Keras's
extra copy; the official head's are torch tensors), batch norm folded
(`ConvBNAct`, IFA's MLP). With an official checkout (`tools/official_heads.py`)
the official head is built with random weights, converted to ours with
`keras_segup.convert`, both outputs compared (max abs difference), and the two
timed alternately in the same process (official under `torch.no_grad`, eval):
median, min-max and interquartile range of `--repeats` calls after 2
warm-up calls each; "ratio" = our median / the official median. "extra MB" is
the peak resident memory of one call above the process's before it (sampled
every 2 ms; memory the C allocator kept from earlier calls does not count,
so under `--keep-freed-memory` it is near 0); "rel diff" the max abs
difference of the logits over the official logits' max abs value. GFLOPs: XLA's cost analysis of our head under JAX (2 per
multiply-add, elementwise work included). The machine line says how glibc's
malloc treats freed memory: by default each large buffer is page-faulted in
anew at every call, which costs both heads more than some of their
arithmetic; `--keep-freed-memory` keeps freed blocks for reuse, in both.
"""

import sys

from keras_segup.utils.benchmark import run_benchmark
from keras_segup.utils.benchmark import sizes_argument
from keras_segup.utils.profiling import jax_flops
from keras_segup.utils.profiling import peak_memory
from keras_segup.utils.profiling import summarize_times
from keras_segup.utils.profiling import sync
from keras_segup.utils.profiling import timed

# head -> (class path, loader path, (stride, channels) of the four levels):
# each paper's Cityscapes configuration (FANet's ResNet-18 reduces layer1 by 2 more)
HEADS = {
    "gai": ("keras_segup.models.gai.gai_head.GAIHead", "keras_segup.convert.load_gai_head",
            ((4, 64), (8, 128), (16, 256), (32, 512))),
    "ifa": ("keras_segup.models.ifa.ifa_head.IFAHead", "keras_segup.convert.load_ifa_head",
            ((4, 256), (8, 512), (16, 1024), (32, 2048))),
    "fanet": ("keras_segup.models.fanet.fanet_head.FANetHead", "keras_segup.convert.load_fanet_head",
              ((8, 64), (16, 128), (32, 256), (64, 512))),
    "rsp": ("keras_segup.models.rsp.rsp_head.RSPHead", None, ((4, 256), (8, 512), (16, 1024), (32, 2048))),
}
LABELS = {"gai": "GAI (R18 features)", "ifa": "IFA (R50 features, aux head)",
          "fanet": "FANet (R18, strides 8-64)", "rsp": "RSP (R50 features)"}
WARMUP = 2


def add_arguments(parser):
    parser.add_argument("--sizes", type=sizes_argument, default=((1024, 2048), (512, 1024)),
                        help="image sizes HxW,HxW (default: 1024x2048,512x1024)")
    parser.add_argument("--heads", default=",".join(HEADS), help="heads NAME,NAME (default: all four)")
    for name in ("fanet", "gai", "ifa"):
        parser.add_argument(f"--official-{name}", metavar="DIR",
                            help=f"a checkout of the official {name} code, to time beside ours")


def _import(path):
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _features(levels, size):
    import numpy as np

    rng = np.random.default_rng(0)
    return [np.maximum(rng.normal(size=(1, -(-size[0] // s), -(-size[1] // s), c)), 0).astype("float32")
            for s, c in levels]


def _our_model(name, head, features, size):
    import keras

    from keras_segup.models import HostOutputsModel
    from keras_segup.ops import resize_bilinear

    inputs = [keras.Input(f.shape[1:]) for f in features]
    outputs = head(inputs, return_aux=name == "ifa")
    outputs = outputs[:2] if name == "ifa" else [outputs]
    return HostOutputsModel(inputs, [resize_bilinear(o, size, head.align_corners) for o in outputs])


def _official(args, name):
    root = getattr(args, f"official_{name}", None)
    if not root:
        return None
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import official_heads

    return official_heads.BUILDERS[name](root)


def _memory(fn):
    extra, _ = peak_memory(fn)
    return None if extra is None else extra / 2**20


def _case(args, name, size, official):
    import keras
    import numpy as np

    class_path, loader, levels = HEADS[name]
    features = _features(levels, size)
    row = {"case": f"{LABELS[name]} {size[0]}x{size[1]}", "head": name, "size": list(size)}
    if official:
        import torch

        run_official, state_dict = official
        torch_features = [torch.from_numpy(np.ascontiguousarray(f.transpose(0, 3, 1, 2))) for f in features]

        def official_call():
            with torch.no_grad():
                out = run_official(torch_features, tuple(size))
            return out[0] if isinstance(out, list) else out

        head = _import(loader)(state_dict, strict=False)
    else:
        head = _import(class_path)(num_classes=19)
    model = _our_model(name, head, features, size)

    def ours():
        return model.predict_on_batch(features)

    row["params"] = model.count_params()
    if keras.backend.backend() == "jax":
        row["gflops"] = jax_flops(model, features) / 1e9
    for _ in range(WARMUP):
        sync(ours())
        if official:
            official_call()
    times, official_times = [], []
    for _ in range(args.repeats):  # alternately, so drifts of the machine hit both
        times.append(timed(ours))
        if official:
            official_times.append(timed(official_call))
    row["ours"] = summarize_times(times, WARMUP)
    row["ours_extra_mb"] = _memory(ours)
    if official:
        row["official"] = summarize_times(official_times, WARMUP)
        row["official_extra_mb"] = _memory(official_call)
        row["ratio"] = row["ours"]["median_ms"] / row["official"]["median_ms"]
        reference = official_call().numpy().transpose(0, 2, 3, 1)
        out = ours()
        out = out[0] if isinstance(out, (list, tuple)) else out
        row["max_abs_diff"] = float(np.abs(np.asarray(out) - reference).max())
        row["max_abs_official"] = float(np.abs(reference).max())
    return row


def measure(args):
    names = [n for n in args.heads.split(",") if n]
    unknown = set(names) - set(HEADS)
    if unknown:
        raise SystemExit(f"--heads takes names from {tuple(HEADS)}; got {sorted(unknown)}")
    rows = []
    for name in names:
        official = _official(args, name)
        for size in args.sizes:
            rows.append(_case(args, name, size, official))
    return rows


def _stats(timing):
    iqr = "" if timing["iqr_ms"] is None else f" iqr {timing['iqr_ms']:.0f}"
    return f"{timing['median_ms']:.0f} ({timing['min_ms']:.0f}-{timing['max_ms']:.0f}{iqr})"


def _mb(value):
    return "n/a" if value is None else f"{value:.0f}"


def print_table(backend, rows, flops):
    print(f"heads on {backend}: ms per call, median (min-max, interquartile range) of "
          f"{rows[0]['ours']['repeats']} calls after {WARMUP} warm-up calls, batch 1, float32; "
          "extra MB: peak resident memory above the process's before the call")
    print(f"{'head':<40} {'GFLOPs':>7} {'official ms':>24} {'ours ms':>24} {'ratio':>6} "
          f"{'extra MB off/ours':>17} {'rel diff':>8}")
    for row in rows:
        gflops = flops.get(row["case"], float("nan"))
        official = _stats(row["official"]) if "official" in row else "no official code"
        ratio = f"{row['ratio']:.2f}x" if "ratio" in row else "-"
        memory = f"{_mb(row.get('official_extra_mb'))}/{_mb(row['ours_extra_mb'])}"
        diff = f"{row['max_abs_diff'] / row['max_abs_official']:.0e}" if "max_abs_diff" in row else "-"
        print(f"{row['case']:<40} {gflops:7.1f} {official:>24} {_stats(row['ours']):>24} {ratio:>6} "
              f"{memory:>17} {diff:>8}")


if __name__ == "__main__":
    sys.exit(run_benchmark(__file__, __doc__.splitlines()[0], measure, print_table, add_arguments))
