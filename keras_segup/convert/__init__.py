"""Official PyTorch checkpoints -> keras_segup heads.

Each loader maps the official `state_dict` keys onto our layers, with one
clear error listing missing keys, unexpected keys and shape mismatches.
The loaders live in their family's folder (`models/<family>/`); this
package re-exports them with the shared `WeightPorter`.
"""

from keras_segup.convert.weight_porter import WeightPorter
from keras_segup.models.fanet.fanet_converter import load_fanet_head
from keras_segup.models.gai.gai_converter import load_gai_head
from keras_segup.models.ifa.ifa_converter import load_ifa_head

__all__ = ["WeightPorter", "load_fanet_head", "load_gai_head", "load_ifa_head"]
