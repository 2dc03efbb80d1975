"""Keras layers: the shared blocks, and the layers of the four designs.

The family layers live in their paper's folder (`keras_segup/models/<family>/
<family>_layers.py`) and are re-exported here.
"""

import keras

from keras_segup.layers.batch_normalization import BatchNormalization
from keras_segup.layers.classifier_block import ClassifierBlock
from keras_segup.layers.conv2d import Conv2D
from keras_segup.layers.conv_bn_act import ConvBNAct
from keras_segup.layers.global_context import GlobalContext
from keras_segup.models.fanet.fanet_layers import FastAttention
from keras_segup.models.gai.gai_layers import CrissCrossAttention
from keras_segup.models.gai.gai_layers import GuidedAttentiveInterpolation
from keras_segup.models.ifa.ifa_layers import ImplicitFeatureAlignment
from keras_segup.models.rsp.rsp_layers import RelationalSemanticsExtractor
from keras_segup.models.rsp.rsp_layers import RelationalSemanticsPropagator
from keras_segup.ops import resize_bilinear

# the name GuidedAttentiveInterpolation had until 0.1; `.keras` files saved
# with it still load
CrossLayerAttention = GuidedAttentiveInterpolation
keras.saving.get_custom_objects()["keras_segup>CrossLayerAttention"] = GuidedAttentiveInterpolation

__all__ = [
    "BatchNormalization",
    "ClassifierBlock",
    "Conv2D",
    "ConvBNAct",
    "CrissCrossAttention",
    "CrossLayerAttention",
    "FastAttention",
    "GlobalContext",
    "GuidedAttentiveInterpolation",
    "ImplicitFeatureAlignment",
    "RelationalSemanticsExtractor",
    "RelationalSemanticsPropagator",
    "resize_bilinear",
]
