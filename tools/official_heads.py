"""The official PyTorch heads, imported from their authors' checkouts, for side-by-side timing.

Nothing of the official code is part of keras_segup: each builder imports
it from a checkout the user names (`--official-fanet`, `--official-gai`,
`--official-ifa` of `tools/benchmark_heads.py`), with random weights, in
eval mode. Modules those files import but the head never runs (training
losses, other backbones, registries, apex) are replaced by empty
placeholders that fail if called; simpleseg's criss-cross attention needs
`einops` (`pip install einops`).

Each builder returns `(run, state_dict)`: `run(features)` is the official
eval forward from the backbone features (NCHW torch tensors, finest first)
to the full-resolution logits, exactly as the official model computes it
after its encoder; `state_dict` holds the weights to convert with
`keras_segup.convert`.
"""

import functools
import importlib
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F


def _placeholder(name, **attributes):
    module = types.ModuleType(name)

    def unavailable(*args, **kwargs):
        raise RuntimeError(f"{name} is a placeholder for timing the official head; it was called")

    module.__getattr__ = lambda attribute: attributes.get(attribute, unavailable)
    module.__path__ = []
    sys.modules.setdefault(name, module)
    return module


def _import_from(root, module, placeholders=()):
    root = str(Path(root).resolve())
    if not Path(root).is_dir():
        raise SystemExit(f"The official checkout {root} does not exist.")
    for name, attributes in placeholders:
        _placeholder(name, **attributes)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(module)


def _eval(*modules):
    for module in modules:
        module.eval()
    return modules


def _after_encoder(model, encoder):
    """`run(features, image_size)`: `model`'s own forward, its `encoder` module returning `features`."""
    fed = {}

    class Features(torch.nn.Module):
        def forward(self, x):
            return fed["features"]

    setattr(model, encoder, Features())

    def run(features, image_size):
        fed["features"] = features
        return model(torch.empty(1, 3, *image_size))  # only its size is read

    return run


def fanet(root, num_classes=19):
    """feinanshan/FANet `Train/`: `FANet.forward` with its `resnet` returning the features."""
    models = _import_from(Path(root) / "Train", "ptsemseg.models", [("torchvision", {}), ("torchvision.models", {})])
    module = sys.modules["ptsemseg.models.fanet.fanet"]
    resnet18 = module.Resnet18
    module.Resnet18 = functools.partial(resnet18, pretrained=False)  # no ImageNet download
    try:
        model = models.FANet(nclass=num_classes, backbone="resnet18", norm_layer=models.BatchNorm2d)
    finally:
        module.Resnet18 = resnet18
    (model,) = _eval(model)
    return _after_encoder(model, "resnet"), model.state_dict()


def gai(root, num_classes=19):
    """hustvl/simpleseg: `ResCLANet.forward` after its backbone (CLAHead, `gap` context, 3x3 fusion, CC attention)."""

    class Registry:
        def __init__(self, *args):
            pass

        def register(self, *args):
            return lambda obj: obj

    placeholders = [
        ("apex", {}), ("apex.parallel", {"SyncBatchNorm": torch.nn.SyncBatchNorm}),
        ("timm", {}), ("timm.models", {}), ("timm.models.layers", {}),
        ("timm.models.registry", {"register_model": lambda f: f}), ("timm.models.vision_transformer", {}),
        ("fvcore", {}), ("fvcore.common", {}), ("fvcore.common.registry", {"Registry": Registry}),
        ("prettytable", {}),
    ]
    clanet = _import_from(root, "simpleseg.models.segmentors.clanet", placeholders)
    head = clanet.CLAHead([64, 128, 256, 512], 128, num_classes, "gap", "BN", True, attn_type="CC")
    dsn = torch.nn.ModuleList(clanet.AuxilaryHead(128, 128, num_classes, "BN") for _ in range(2))
    _eval(head, dsn)

    def run(features, image_size):
        logits, _ = head(features)
        return F.interpolate(logits, image_size, mode="bilinear", align_corners=False)

    state = {f"seg_head.{k}": v for k, v in head.state_dict().items()}
    state.update({f"dsn.{k}": v for k, v in dsn.state_dict().items()})
    return run, state


def ifa(root, num_classes=19):
    """hzhupku/IFA: `ModelBuilder.forward` of `experiments/ifa/config.yaml` after its encoder (decoder and aux head)."""
    base = _import_from(root, "pyseg.models.base")
    if not hasattr(base, "PPM"):  # decoder.py imports a PPM that base.py no longer defines; IFA never uses it
        base.PPM = _placeholder("pyseg.models.base.PPM").PPM
    helper = importlib.import_module("pyseg.models.model_helper")
    config = {
        "num_classes": num_classes, "sync_bn": False, "aux_loss": {"aux_plane": 1024, "loss_weight": 0.4},
        "encoder": {"type": "pyseg.models.resnet.resnet50",
                    "kwargs": {"fpn": True, "multi_grid": True, "zero_init_residual": True,
                               "replace_stride_with_dilation": [False, False, False], "pretrained": False}},
        "decoder": {"type": "pyseg.models.fpn_ifa.fpn_ifa",
                    "kwargs": {"inner_planes": 256, "dilations": [12, 24, 36], "ultra_pe": True, "pos_dim": 24,
                               "no_aspp": True, "require_grad": True}},
    }
    (model,) = _eval(helper.ModelBuilder(config))
    forward = _after_encoder(model, "encoder")

    def run(features, image_size):
        if torch.cuda.is_available():
            return forward(features, image_size)
        cuda = torch.Tensor.cuda
        torch.Tensor.cuda = lambda tensor, *args, **kwargs: tensor  # ifa_utils moves coordinates with .cuda()
        try:
            return forward(features, image_size)
        finally:
            torch.Tensor.cuda = cuda

    return run, model.state_dict()


BUILDERS = {"fanet": fanet, "gai": gai, "ifa": ifa}
