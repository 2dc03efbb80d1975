"""Official PyTorch checkpoints -> keras_segup heads.

Each loader maps the official `state_dict` keys onto our layers, with one
clear error listing missing keys, unexpected keys and shape mismatches.
"""

from keras_segup.convert.fanet import load_fanet_head
from keras_segup.convert.gai import load_gai_head
from keras_segup.convert.ifa import load_ifa_head
from keras_segup.convert.weight_porter import WeightPorter

__all__ = ["WeightPorter", "load_fanet_head", "load_gai_head", "load_ifa_head"]
