"""Probe: the error of TFLite's int8 BATCH_MATMUL when both operands are activations.

Usage: python tools/probe_int8_matmul.py [--length N] [--seed S]

One op, `a^T b` (as FANet's K^T V) and `b^T a`, on (1, N, 8) and
(1, N, 16) inputs drawn from three distributions: centred normal
("centred"), a ReLU of it ("relu", zero point far from 0) and a normal
shifted by 2 ("shifted"). The op is converted to full-integer int8,
calibrated on 16 draws, and run on a draw of the calibration set;
the table gives the mean |int8 - float| over the mean |float|.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def relative_error(product, draw_a, draw_b, length):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, length, 8)), tf.TensorSpec((1, length, 16))])
    def op(a, b):
        return product(a, b)

    data = [[draw_a((1, length, 8)), draw_b((1, length, 16))] for _ in range(16)]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([op.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(data)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    a, b = data[2]
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], a if detail["shape"][-1] == 8 else b)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = op(a, b).numpy()
    return float(np.abs(got - expected).mean() / np.abs(expected).mean())


def main():
    import tensorflow as tf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1024, help="the summed length N (pixels)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    draws = {
        "centred": lambda shape: rng.normal(size=shape).astype("float32"),
        "relu": lambda shape: np.maximum(rng.normal(size=shape), 0).astype("float32"),
        "shifted": lambda shape: (rng.normal(size=shape) + 2).astype("float32"),
    }
    products = {
        "a^T b": lambda a, b: tf.matmul(a, b, transpose_a=True),
        "b^T a": lambda a, b: tf.matmul(b, a, transpose_a=True),
    }
    print(f"TFLite {tf.__version__} int8 BATCH_MATMUL of two activations, sums of {args.length}: "
          "mean |int8 - float| / mean |float|")
    print(f"{'a':<9} {'b':<9} " + " ".join(f"{name:>8}" for name in products))
    for name_a, name_b in [("centred", "centred"), ("centred", "relu"), ("relu", "centred"),
                           ("centred", "shifted"), ("shifted", "centred"), ("relu", "relu")]:
        errors = [relative_error(p, draws[name_a], draws[name_b], args.length) for p in products.values()]
        print(f"{name_a:<9} {name_b:<9} " + " ".join(f"{100 * e:7.1f}%" for e in errors))


if __name__ == "__main__":
    main()
