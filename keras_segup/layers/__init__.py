"""Backend-agnostic Keras layers of the four decoder designs."""

from keras_segup.layers.classifier_block import ClassifierBlock
from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.criss_cross_attention import CrissCrossAttention
from keras_segup.layers.cross_layer_attention import CrossLayerAttention
from keras_segup.layers.fast_attention import FastAttention
from keras_segup.layers.global_context import GlobalContext
from keras_segup.layers.implicit_feature_alignment import ImplicitFeatureAlignment
from keras_segup.layers.relational_semantics_extractor import RelationalSemanticsExtractor
from keras_segup.layers.relational_semantics_propagator import RelationalSemanticsPropagator
from keras_segup.layers.resizing import resize_bilinear

__all__ = [
    "ClassifierBlock",
    "ConvBNAct",
    "CrissCrossAttention",
    "CrossLayerAttention",
    "FastAttention",
    "GlobalContext",
    "ImplicitFeatureAlignment",
    "RelationalSemanticsExtractor",
    "RelationalSemanticsPropagator",
    "resize_bilinear",
]
