"""PyTorch implementations of the ops (channels-last in, channels-last out).

A contiguous (B, H, W, C) tensor permuted to (B, C, H, W) is an NCHW tensor
in torch's `channels_last` memory format: PyTorch's convolution and
resize kernels run on it without a copy, and their channels-last output
permuted back is a contiguous (B, H, W, C) tensor again.
"""

import torch
import torch.nn.functional as F
from torch.utils.weak import WeakIdKeyDictionary

from keras_segup.ops import reference

# Eager inference re-derives the same tensors from unchanged weights at every
# call: the folded kernels, and the convolution weights in torch's layout
# (a transposing copy: 7.7 ms for a 3x3 512 -> 512 kernel). They are kept
# while their inputs are the same tensors at the same version (every
# in-place write, an optimizer step or `assign`, bumps it), keyed weakly
# by their first input, and never while autograd records their inputs.
_folded = WeakIdKeyDictionary()
_weights = WeakIdKeyDictionary()


def _reusable(tensors):
    tensors = [t for t in tensors if t is not None]
    if any(t.is_inference() for t in tensors):  # no version counter
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _cached(cache, key, others, compute, constants=()):
    """`compute()`, or its result from the last call with these inputs (and constants) unchanged
    (in eager mode: torch.compile derives the tensors in its graph)."""
    if torch.compiler.is_compiling() or not _reusable([key, *others]):
        return compute()
    versions = (*(None if t is None else t._version for t in (key, *others)), *constants)
    entry = cache.get(key)
    # `others` are held by the entry, so their ids cannot be reused while it lives
    if entry is not None and entry[1] == versions and all(a is b for a, b in zip(entry[0], others)):
        return entry[2]
    result = compute()
    cache[key] = (tuple(others), versions, result)
    return result


def fold_batch_norm(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon):
    return _cached(
        _folded, kernel, (bias, gamma, beta, moving_mean, moving_variance),
        lambda: reference.fold_batch_norm(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon),
        constants=(epsilon,),
    )


def _nearest_grid_sample(x, grid, padding_mode, align_corners):
    # PyTorch's CPU kernel is slow for nearest: one gather from the
    # flattened map plus a zero row that the taps outside the image read
    batch, height, width, channels = x.shape
    grid = grid.float()
    if align_corners:
        gx = (grid[..., 0] + 1) * 0.5 * (width - 1)
        gy = (grid[..., 1] + 1) * 0.5 * (height - 1)
    else:
        gx = ((grid[..., 0] + 1) * width - 1) * 0.5
        gy = ((grid[..., 1] + 1) * height - 1) * 0.5
    if padding_mode == "border":
        gx, gy = gx.clamp(0, width - 1), gy.clamp(0, height - 1)
    ix, iy = torch.round(gx).long(), torch.round(gy).long()
    inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    base = torch.arange(batch, device=x.device)[:, None, None] * height * width
    index = torch.where(inside, base + iy * width + ix, batch * height * width)
    flat = torch.cat([x.reshape(-1, channels), x.new_zeros(1, channels)])
    return flat[index]


def grid_sample(x, grid, mode, padding_mode, align_corners):
    if mode == "nearest":
        return _nearest_grid_sample(x, grid, padding_mode, align_corners)
    out = F.grid_sample(
        x.permute(0, 3, 1, 2),
        grid.to(x.dtype),
        mode=mode,
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
    return out.permute(0, 2, 3, 1)


def nearest_cell(x, size):
    height, width = x.shape[1:3]
    iy, ix, offsets = reference.nearest_cell_offsets(height, width, size, x.dtype)
    if size[0] % height == 0 and size[1] % width == 0:
        return reference.repeat_cells(x, size), offsets
    features = x.index_select(1, iy.to(x.device)).index_select(2, ix.to(x.device))
    return features, offsets


def extract_windows(x, kernel_size, dilation):
    pad = dilation * (kernel_size // 2)
    span = dilation * (kernel_size - 1) + 1
    padded = F.pad(x, (0, 0, pad, pad, pad, pad))
    # strided views (B, H, W, C, k, k): no copy until the final reshape
    windows = padded.unfold(1, span, 1)[..., ::dilation]
    windows = windows.unfold(2, span, 1)[..., ::dilation]
    batch, height, width, channels = x.shape
    windows = windows.permute(0, 1, 2, 4, 5, 3)
    return windows.reshape(batch, height, width, kernel_size**2, channels)


def conv2d(x, kernel, bias, strides, padding, dilation, activation):
    weight = _cached(
        _weights, kernel, (), lambda: kernel.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last),
    )
    out = F.conv2d(
        x.contiguous().permute(0, 3, 1, 2), weight, bias,
        stride=strides, padding=padding, dilation=dilation,
    )
    # in place: the result is new, and neither backward needs what it overwrites
    if activation == "relu":
        out = F.relu(out, inplace=True)
    elif activation == "leaky_relu":
        out = F.leaky_relu(out, 0.01, inplace=True)
    return out.permute(0, 2, 3, 1)


def resize_bilinear(x, size, align_corners):
    out = F.interpolate(
        x.contiguous().permute(0, 3, 1, 2), size=tuple(size), mode="bilinear", align_corners=align_corners,
    )
    return out.permute(0, 2, 3, 1)


def max_pool2d(x, pool_size, strides, padding, ceil_mode):
    out = F.max_pool2d(
        x.contiguous().permute(0, 3, 1, 2), pool_size, strides, padding, ceil_mode=ceil_mode,
    )
    return out.permute(0, 2, 3, 1)


def affine_channels(x, scale, shift):
    return torch.addcmul(shift, x, scale)


# the softmax without the concatenation; exporters trace the SOFTMAX op
criss_cross_softmax = reference.criss_cross_exponentials
map_row_blocks = reference.map_row_blocks  # eager: the blocks already run one after another


def host_array(x):
    """The CPU tensor's own memory as numpy (after one transfer from a GPU); bfloat16 as Keras converts it."""
    if x.dtype == torch.bfloat16:  # numpy has no bfloat16
        return reference.host_array(x)
    return x.detach().cpu().numpy()


def facts():
    """(version, intra-op threads or None, device names, platform) of this backend."""
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return torch.__version__, torch.get_num_threads(), names or ["cpu"], "cuda" if names else "cpu"
