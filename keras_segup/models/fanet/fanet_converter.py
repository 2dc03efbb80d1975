"""feinanshan/FANet head weights (`ffm_*`, `clslayer_*`) -> `FANetHead`."""

from keras_segup.convert.weight_porter import WeightPorter
from keras_segup.convert.weight_porter import input_channels
from keras_segup.convert.weight_porter import output_channels
from keras_segup.models.fanet.fanet_head import FANetHead

# our level index (0 = finest) -> official module suffix
_LEVELS = {0: "4", 1: "8", 2: "16", 3: "32"}


def load_fanet_head(state_dict, head=None, strict=True, strip_prefix=""):
    """Loads the official FANet decoder weights into a `FANetHead`.

    The official model builds modules its forward never calls
    (`ffm_8.smooth`, `ffm_4.up`); their keys are accepted and ignored.

    Args:
        state_dict: official PyTorch state_dict (tensors or numpy arrays).
        head: a `FANetHead` to fill; by default one is built from the
            checkpoint's classes and channels.
        strict: fail on other keys the head does not use (pass False for a
            full model checkpoint with the backbone).
        strip_prefix: removed from every key first (e.g. `"module."`).

    Returns:
        The head, built and loaded.

    Example:
    ```python
    head = load_fanet_head(torch.load("fanet18.pth"), strict=False)
    ```
    """
    porter = WeightPorter(state_dict, strip_prefix)
    sd = porter.state_dict
    in_channels = [input_channels(sd, f"ffm_{_LEVELS[i]}.w_qs.conv.weight") for i in range(4)]
    if head is None:
        head = FANetHead(
            num_classes=output_channels(sd, "clslayer_8.conv_out.weight"),
            channels=output_channels(sd, "ffm_32.smooth.conv.weight"),
            key_channels=output_channels(sd, "ffm_32.w_qs.conv.weight"),
            aux_channels=output_channels(sd, "clslayer_32.conv.conv.weight"),
            classifier_channels=output_channels(sd, "clslayer_8.conv.conv.weight"),
        )
    if not head.built:
        head.build([(None, None, None, c) for c in in_channels])
    for i, suffix in _LEVELS.items():
        prefix = f"ffm_{suffix}"
        attention = head.attentions[i]
        for block, name in (
            (attention.query, "w_qs"),
            (attention.key, "w_ks"),
            (attention.value, "w_vs"),
            (attention.projection, "latlayer3"),
        ):
            porter.conv_bn(block, f"{prefix}.{name}.conv", f"{prefix}.{name}.bn")
        if i > 0:
            porter.conv_bn(head.ups[i - 1], f"{prefix}.up.conv", f"{prefix}.up.bn")
        if i in head.smooth_levels:
            smooth = head.smooths[head.smooth_levels.index(i)]
            porter.conv_bn(smooth, f"{prefix}.smooth.conv", f"{prefix}.smooth.bn")
    for block, name in (
        (head.classifier, "clslayer_8"),
        (head.aux_classifiers[0], "clslayer_32"),
        (head.aux_classifiers[1], "clslayer_16"),
    ):
        porter.conv_bn(block.conv, f"{name}.conv.conv", f"{name}.conv.bn")
        porter.conv(block.classifier, f"{name}.conv_out")
    unused_by_design = {
        k for k in porter.state_dict if k.startswith(("ffm_8.smooth.", "ffm_4.up."))
    }
    porter.used |= unused_by_design
    porter.apply(strict=strict)
    return head
