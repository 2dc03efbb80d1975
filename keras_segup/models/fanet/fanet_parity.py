"""How a FANet head is checked against feinanshan/FANet's outputs (`shared/parity/fanet_public.*`).

Plain data read by `keras_segup.convert.parity`: the state_dict key that
identifies the checkpoint, the loader, the official input names (finest
first), and for each official output the index of our head's output and
whether it is compared after the segmenter's final upsampling to the image.
"""

from keras_segup.models.fanet.fanet_converter import load_fanet_head

FANET_PARITY = {
    "marker": "ffm_32.w_qs.conv.weight",
    "loader": load_fanet_head,
    "inputs": ("feat4", "feat8", "feat16", "feat32"),
    "outputs": {
        "logits_lowres": (0, False),
        "logits": (0, True),
        "aux1_logits_lowres": (1, False),
        "aux1_logits": (1, True),
        "aux2_logits_lowres": (2, False),
        "aux2_logits": (2, True),
    },
}
