"""keras-hub backbones configured as each paper uses them."""

from keras_segup.backbones.hub_presets import backbone_from_preset
from keras_segup.backbones.resnet import RESNET_VARIANTS
from keras_segup.backbones.resnet import pyramid_extractor
from keras_segup.backbones.resnet import resnet_backbone

__all__ = ["RESNET_VARIANTS", "backbone_from_preset", "pyramid_extractor", "resnet_backbone"]
