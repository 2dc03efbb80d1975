"""How an IFA head is checked against hzhupku/IFA's outputs (`shared/parity/ifa_public.*`).

Plain data read by `keras_segup.convert.parity`: the state_dict key that
identifies the checkpoint, the loader, the official input names (P2..P5),
and for each official output the index of our head's output and whether
it is compared after the segmenter's final upsampling to the image.
"""

from keras_segup.models.ifa.ifa_converter import load_ifa_head

IFA_PARITY = {
    "marker": "decoder.ifa.imnet.0.weight",
    "loader": load_ifa_head,
    "inputs": ("x1", "x2", "x3", "x4"),
    "outputs": {
        "logits_lowres": (0, False),
        "logits": (0, True),
        "aux_logits_lowres": (1, False),
        "aux_logits": (1, True),
    },
}
