"""Backbones: the papers' ResNets layer for layer, any keras-hub feature pyramid, checkpoint import."""

from keras_segup.backbones.checkpoints import CheckpointError
from keras_segup.backbones.checkpoints import check_local_checkpoint
from keras_segup.backbones.checkpoints import load_torch_weights
from keras_segup.backbones.checkpoints import read_checkpoint
from keras_segup.backbones.hub_presets import backbone_from_preset
from keras_segup.backbones.hub_presets import load_hub_weights
from keras_segup.backbones.paper_resnet import PAPER_BACKBONES
from keras_segup.backbones.paper_resnet import PaperResNetBackbone
from keras_segup.backbones.paper_resnet import paper_backbone
from keras_segup.backbones.pyramid import choose_levels
from keras_segup.backbones.pyramid import pyramid_extractor
from keras_segup.backbones.pyramid import pyramid_strides
from keras_segup.backbones.resnet import RESNET_VARIANTS
from keras_segup.backbones.resnet import resnet_backbone

__all__ = [
    "CheckpointError",
    "check_local_checkpoint",
    "PAPER_BACKBONES",
    "PaperResNetBackbone",
    "RESNET_VARIANTS",
    "backbone_from_preset",
    "load_hub_weights",
    "load_torch_weights",
    "paper_backbone",
    "choose_levels",
    "pyramid_extractor",
    "pyramid_strides",
    "read_checkpoint",
    "resnet_backbone",
]
