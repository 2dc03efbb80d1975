"""hzhupku/IFA `fpn_ifa` decoder (`decoder.*`) and `Aux_Module` (`auxor.*`) -> `IFAHead`."""

from keras_segup.convert.weight_porter import WeightPorter
from keras_segup.convert.weight_porter import input_channels
from keras_segup.convert.weight_porter import output_channels
from keras_segup.models.ifa.ifa_head import IFAHead

# official imnet Sequential indices of the (linear, batch norm) pairs
_IMNET_LINEAR = (0, 3, 6)
_IMNET_NORM = (1, 4, 7)
_IMNET_CLASSIFIER = 9


def load_ifa_head(state_dict, head=None, strict=True, strip_prefix=""):
    """Loads the official IFA decoder and auxiliary weights into an `IFAHead`.

    Covers the `no_aspp=True, ultra_pe=True, require_grad=True, num_layer=2`
    configuration of the official Cityscapes/ADE20K configs.

    Args:
        state_dict: official PyTorch state_dict (tensors or numpy arrays).
        head: an `IFAHead` to fill; by default one is built from the
            checkpoint's classes and widths.
        strict: fail on keys the head does not use (pass False for a full
            model checkpoint with the encoder).
        strip_prefix: removed from every key first (e.g. `"module."`).

    Returns:
        The head, built and loaded.

    Example:
    ```python
    head = load_ifa_head(torch.load("ifa_r50.pth")["model_state"], strict=False)
    ```
    """
    porter = WeightPorter(state_dict, strip_prefix)
    sd = porter.state_dict
    lateral_keys = ["decoder.enc1", "decoder.enc2", "decoder.enc3", "decoder.head"]
    in_channels = [input_channels(sd, f"{k}.0.weight") for k in lateral_keys]
    if head is None:
        head = IFAHead(
            num_classes=output_channels(sd, f"decoder.ifa.imnet.{_IMNET_CLASSIFIER}.weight"),
            channels=output_channels(sd, "decoder.enc1.0.weight"),
            pos_dim=2 * output_channels(sd, "decoder.ifa.pos1.emb"),
            hidden_units=[output_channels(sd, f"decoder.ifa.imnet.{i}.weight")
                          for i in _IMNET_LINEAR],
            aux_channels=output_channels(sd, "auxor.aux.0.weight"),
        )
    if not head.built:
        head.build([(None, None, None, c) for c in in_channels])
    for lateral, key in zip(head.laterals, lateral_keys):
        porter.conv_bn(lateral, f"{key}.0", f"{key}.1")
    ifa = head.ifa
    for level, frequencies in enumerate(ifa.frequencies):
        porter.tensor(frequencies, f"decoder.ifa.pos{level + 1}.emb")
    porter.dense(ifa.kernel, ifa.bias, f"decoder.ifa.imnet.{_IMNET_LINEAR[0]}")
    for dense, index in zip(ifa.denses, _IMNET_LINEAR[1:]):
        porter.dense(dense.kernel, dense.bias, f"decoder.ifa.imnet.{index}")
    for norm, index in zip(ifa.norms, _IMNET_NORM):
        porter.bn(norm, f"decoder.ifa.imnet.{index}")
    classifier = ifa.classifier
    porter.dense(classifier.kernel, classifier.bias, f"decoder.ifa.imnet.{_IMNET_CLASSIFIER}")
    porter.conv_bn(head.aux_classifier.conv, "auxor.aux.0", "auxor.aux.1")
    porter.conv(head.aux_classifier.classifier, "auxor.aux.4")
    porter.apply(strict=strict)
    return head
