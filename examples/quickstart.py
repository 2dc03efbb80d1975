"""keras_segup quick start: the four decode heads on every installed backend.

Run with `make demo` (or `python examples/quickstart.py`). For each backend,
in its own process, it prints the versions in use, then builds the GAI,
IFA, FANet and RSP heads and decodes the backbone features of a 512x1024
image (random features: no weights are downloaded), printing the logits'
shape and the time taken. IFA also decodes straight to full resolution.
"""

import os
import subprocess
import sys
import time

BACKENDS = ("jax", "torch", "tensorflow")


def run_one_backend():
    import keras
    import numpy as np

    import keras_segup
    from keras_segup.models import FANetHead
    from keras_segup.models import GAIHead
    from keras_segup.models import IFAHead
    from keras_segup.models import RSPHead

    backend = keras.backend.backend()
    framework = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}[backend]
    version = __import__(framework).__version__
    print(f"\n== KERAS_BACKEND={backend}: keras {keras.__version__}, {framework} {version}, "
          f"keras_segup {keras_segup.__version__}")
    rng = np.random.default_rng(0)
    height, width = 512, 1024

    def features(channels, strides=(4, 8, 16, 32)):
        return [
            np.abs(rng.normal(size=(1, height // s, width // s, c))).astype("float32")
            for s, c in zip(strides, channels)
        ]

    r18, r50 = (64, 128, 256, 512), (256, 512, 1024, 2048)
    cases = [
        ("GAI", GAIHead(19), features(r18), {}),
        ("IFA", IFAHead(19), features(r50), {}),
        ("IFA at full resolution", IFAHead(19), features(r50), {"output_size": (height, width)}),
        ("FANet", FANetHead(19), features(r18, (8, 16, 32, 64)), {}),
        ("RSP", RSPHead(19), features(r50), {}),
    ]
    for name, head, feats, kwargs in cases:
        head(feats, **kwargs)  # build and warm up
        start = time.perf_counter()
        logits = keras.ops.convert_to_numpy(head(feats, **kwargs))
        ms = (time.perf_counter() - start) * 1e3
        print(f"  {name:<24} logits {str(logits.shape):<20} {ms:8.1f} ms (eager, CPU)")


def main():
    if os.environ.get("KERAS_SEGUP_DEMO_CHILD"):
        run_one_backend()
        return 0
    status = 0
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "KERAS_SEGUP_DEMO_CHILD": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        status |= subprocess.call([sys.executable, __file__], env=env)
    return status


if __name__ == "__main__":
    sys.exit(main())
