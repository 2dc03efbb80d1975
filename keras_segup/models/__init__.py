"""Decode heads (and, with the models issue, complete segmenters)."""

from keras_segup.models.fanet.fanet_head import FANetHead
from keras_segup.models.gai.gai_head import GAIHead
from keras_segup.models.ifa.ifa_head import IFAHead
from keras_segup.models.rsp.rsp_head import RSPHead

__all__ = ["FANetHead", "GAIHead", "IFAHead", "RSPHead"]
