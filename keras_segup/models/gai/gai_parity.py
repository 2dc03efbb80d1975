"""How a GAI head is checked against hustvl/simpleseg's outputs (`shared/parity/gai_public.*`).

Plain data read by `keras_segup.convert.parity`: the state_dict key that
identifies the checkpoint, the loader, the official input names (P2..P5),
and for each official output the index of our head's output and whether
it is compared after the segmenter's final upsampling to the image.
"""

from keras_segup.models.gai.gai_converter import load_gai_head

GAI_PARITY = {
    "marker": "seg_head.fpn_in.0.0.weight",
    "loader": load_gai_head,
    "inputs": ("c2", "c3", "c4", "c5"),
    "outputs": {
        "logits_lowres": (0, False),
        "logits": (0, True),
        "aux0_logits_lowres": (1, False),
        "aux1_logits_lowres": (2, False),
    },
}
