"""Decode heads and complete segmenters (backbone + head)."""

from keras_segup.models.fanet.fanet_head import FANetHead
from keras_segup.models.fanet.fanet_segmenter import FANetSegmenter
from keras_segup.models.gai.gai_head import GAIHead
from keras_segup.models.gai.gai_segmenter import GAISegmenter
from keras_segup.models.host_outputs_model import HostOutputsModel
from keras_segup.models.ifa.ifa_head import IFAHead
from keras_segup.models.ifa.ifa_segmenter import IFASegmenter
from keras_segup.models.rsp.rsp_head import RSPHead
from keras_segup.models.rsp.rsp_segmenter import RSPSegmenter
from keras_segup.models.segmenter import Segmenter
from keras_segup.presets import list_presets

__all__ = [
    "FANetHead",
    "FANetSegmenter",
    "GAIHead",
    "GAISegmenter",
    "HostOutputsModel",
    "IFAHead",
    "IFASegmenter",
    "RSPHead",
    "RSPSegmenter",
    "Segmenter",
    "list_presets",
]
