"""Quantization-aware fine-tuning for full-integer (int8) TFLite files.

Backend-agnostic (no TensorFlow needed): fine-tune under any backend, then
export with `keras_segup.export.export_tflite`.
"""

from keras_segup.quantization.fake_quant import activation_grid
from keras_segup.quantization.fake_quant import fake_quantize_activations
from keras_segup.quantization.fake_quant import fake_quantize_weights
from keras_segup.quantization.quantization_aware_model import QuantizationAwareModel
from keras_segup.quantization.quantization_aware_model import quantization_units

__all__ = [
    "QuantizationAwareModel",
    "activation_grid",
    "fake_quantize_activations",
    "fake_quantize_weights",
    "quantization_units",
]
