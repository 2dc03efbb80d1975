import numpy as np


class WeightPorter:
    """Copies tensors of an official PyTorch `state_dict` into Keras layers.

    Every assignment is checked first (missing keys, unexpected keys, shape
    mismatches); nothing is written unless all of them pass, so a failed
    conversion never leaves a half-loaded model.

    Args:
        state_dict: mapping of official key -> array (numpy or torch tensor).
        strip_prefix: a prefix removed from every key first (e.g. `"module."`
            from `DataParallel` checkpoints).

    Example:
    ```python
    porter = WeightPorter(state_dict)
    porter.conv_bn(head.laterals[0], "seg_head.fpn_in.0.0", "seg_head.fpn_in.0.1")
    porter.apply(strict=True)
    ```
    """

    def __init__(self, state_dict, strip_prefix=""):
        self.state_dict = {}
        for key, value in state_dict.items():
            if strip_prefix and key.startswith(strip_prefix):
                key = key[len(strip_prefix) :]
            if key.endswith("num_batches_tracked"):
                continue
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            self.state_dict[key] = np.asarray(value, dtype=np.float32)
        self.assignments = []
        self.missing = []
        self.mismatched = []
        self.used = set()

    def tensor(self, variable, key, transform=None):
        """Plans `variable <- transform(state_dict[key])`."""
        if key not in self.state_dict:
            self.missing.append(key)
            return
        self.used.add(key)
        value = self.state_dict[key]
        if transform is not None:
            value = transform(value)
        if tuple(value.shape) != tuple(variable.shape):
            self.mismatched.append(
                f"{key}: checkpoint {tuple(self.state_dict[key].shape)} -> "
                f"{tuple(value.shape)}, layer variable {variable.path} "
                f"{tuple(variable.shape)}"
            )
            return
        self.assignments.append((variable, value))

    def conv(self, layer, prefix):
        """A Conv2D from `prefix.weight` (out, in, kh, kw) and `prefix.bias`."""
        self.tensor(layer.kernel, f"{prefix}.weight", _conv_kernel)
        if layer.use_bias:
            self.tensor(layer.bias, f"{prefix}.bias")

    def dense(self, kernel, bias, prefix):
        """A per-pixel linear map from a Conv1d/Conv2d 1x1 or Linear weight."""
        self.tensor(kernel, f"{prefix}.weight", _dense_kernel)
        if bias is not None:
            self.tensor(bias, f"{prefix}.bias")

    def bn(self, layer, prefix):
        """A BatchNormalization from PyTorch's BatchNorm weight/bias/running stats."""
        self.tensor(layer.gamma, f"{prefix}.weight")
        self.tensor(layer.beta, f"{prefix}.bias")
        self.tensor(layer.moving_mean, f"{prefix}.running_mean")
        self.tensor(layer.moving_variance, f"{prefix}.running_var")

    def conv_bn(self, block, conv_prefix, bn_prefix):
        """A `ConvBNAct` block."""
        self.conv(block.conv, conv_prefix)
        self.bn(block.bn, bn_prefix)

    def apply(self, strict=True, target="head"):
        """Writes all planned values, or raises listing every problem.

        Args:
            strict: also fail on checkpoint keys that nothing used.
            target: what is being filled, for the message.

        Returns:
            The sorted list of unused checkpoint keys (empty when strict).
        """
        unused = sorted(set(self.state_dict) - self.used)
        problems = []
        if self.missing:
            problems.append(f"missing keys ({len(self.missing)}): {self.missing}")
        if self.mismatched:
            problems.append("shape mismatches:\n  " + "\n  ".join(self.mismatched))
        if strict and unused:
            problems.append(
                f"unexpected keys ({len(unused)}): {unused} "
                "(pass strict=False to ignore them)"
            )
        if problems:
            raise ValueError(
                f"The state_dict does not fit this {target}:\n" + "\n".join(problems)
            )
        for variable, value in self.assignments:
            variable.assign(value)
        return unused


def _conv_kernel(weight):
    if weight.ndim != 4:
        return weight
    return np.transpose(weight, (2, 3, 1, 0))


def _dense_kernel(weight):
    if weight.ndim == 3:  # Conv1d (out, in, 1)
        weight = weight[..., 0]
    elif weight.ndim == 4:  # Conv2d 1x1
        weight = weight[..., 0, 0]
    return np.transpose(weight)


def _weight_shape(state_dict, key):
    if key not in state_dict:
        raise ValueError(
            f"The state_dict has no key {key!r}: it is not a checkpoint of this "
            "head (or it needs strip_prefix)."
        )
    return np.shape(state_dict[key])


def input_channels(state_dict, key):
    """The input channels of a conv weight in a state_dict."""
    return int(_weight_shape(state_dict, key)[1])


def output_channels(state_dict, key):
    """The output channels of a conv weight in a state_dict."""
    return int(_weight_shape(state_dict, key)[0])
