"""Converts a `.keras` segmenter under the TensorFlow backend (used by the exporters
when the caller's backend is JAX or torch). Not a public entry point."""

import argparse
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_segup  # noqa: E402, F401  (registers the classes for loading)
from keras_segup.export.onnx import convert_onnx  # noqa: E402
from keras_segup.export.tflite import convert_tflite  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("format", choices=("tflite", "onnx"))
    parser.add_argument("destination")
    parser.add_argument("--input-size", type=int, nargs=2, required=True)
    parser.add_argument("--output", default="logits")
    parser.add_argument("--quantization", default=None)
    parser.add_argument("--keep-float", default="0", help="N, or op names OP,OP")
    parser.add_argument("--opset", type=int, default=None)
    parser.add_argument("--representative", default=None)
    args = parser.parse_args()
    model = keras.saving.load_model(args.model)
    options = {
        "input_size": tuple(args.input_size),
        "output": args.output,
        "quantization": args.quantization,
        "keep_float": int(args.keep_float) if args.keep_float.isdigit() else tuple(args.keep_float.split(",")),
        "opset": args.opset,
        "representative_data": np.load(args.representative) if args.representative else None,
    }
    convert = convert_tflite if args.format == "tflite" else convert_onnx
    convert(model, args.destination, options)


if __name__ == "__main__":
    main()
