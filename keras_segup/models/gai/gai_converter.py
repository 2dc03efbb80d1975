"""hustvl/simpleseg `ResCLANet` (GAI) head weights -> `GAIHead`."""

from keras_segup.convert.weight_porter import WeightPorter
from keras_segup.convert.weight_porter import input_channels
from keras_segup.convert.weight_porter import output_channels
from keras_segup.models.gai.gai_head import GAIHead


def load_gai_head(state_dict, head=None, strict=True, strip_prefix=""):
    """Loads the official `seg_head.*` and `dsn.*` weights into a `GAIHead`.

    Args:
        state_dict: official PyTorch state_dict (tensors or numpy arrays).
        head: a `GAIHead` to fill; by default one is built with the
            number of classes, width and input channels of the checkpoint.
        strict: fail on keys the head does not use (pass False for a full
            model checkpoint that also holds the backbone).
        strip_prefix: removed from every key first (e.g. `"module."`).

    Returns:
        The head, built and loaded.

    Example:
    ```python
    head = load_gai_head(torch.load("clanet_r18.pth")["model"], strict=False)
    ```
    """
    porter = WeightPorter(state_dict, strip_prefix)
    sd = porter.state_dict
    in_channels = [input_channels(sd, f"seg_head.fpn_in.{i}.0.weight") for i in range(4)]
    if head is None:
        head = GAIHead(
            num_classes=output_channels(sd, "seg_head.output.4.weight"),
            channels=output_channels(sd, "seg_head.fpn_in.0.0.weight"),
        )
    if not head.built:
        head.build([(None, None, None, c) for c in in_channels])
    for i, lateral in enumerate(head.laterals):
        porter.conv_bn(lateral, f"seg_head.fpn_in.{i}.0", f"seg_head.fpn_in.{i}.1")
    porter.conv_bn(head.context.pool_conv, "seg_head.ppm.conv1.0", "seg_head.ppm.conv1.1")
    porter.conv_bn(head.context.fuse_conv, "seg_head.ppm.conv2.0", "seg_head.ppm.conv2.1")
    for i, block in enumerate(head.gai_blocks):
        prefix = f"seg_head.cross_layer_attentions.{i}"
        porter.conv(block.query_conv, f"{prefix}.conv1")
        porter.conv(block.value_conv, f"{prefix}.conv2")
        porter.conv(block.attention.query_conv, f"{prefix}.attention.query_conv")
        porter.conv(block.attention.key_conv, f"{prefix}.attention.key_conv")
        porter.conv(block.attention.value_conv, f"{prefix}.attention.value_conv")
        porter.tensor(block.attention.gamma, f"{prefix}.attention.gamma")
        porter.conv_bn(block.bottleneck, f"{prefix}.bottleneck.0", f"{prefix}.bottleneck.1")
    porter.conv_bn(head.merge[0], "seg_head.merge.0", "seg_head.merge.1")
    porter.conv_bn(head.merge[1], "seg_head.merge.3", "seg_head.merge.4")
    porter.conv_bn(head.classifier.conv, "seg_head.output.0", "seg_head.output.1")
    porter.conv(head.classifier.classifier, "seg_head.output.4")
    for i, aux in enumerate(head.aux_classifiers):
        porter.conv_bn(aux.conv, f"dsn.{i}.layers.0", f"dsn.{i}.layers.1")
        porter.conv(aux.classifier, f"dsn.{i}.layers.4")
    porter.apply(strict=strict)
    return head
