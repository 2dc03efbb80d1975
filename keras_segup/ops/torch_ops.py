"""PyTorch implementations of the gathers (channels-last in, channels-last out)."""

import torch
import torch.nn.functional as F

from keras_segup.ops import reference


def grid_sample(x, grid, mode, padding_mode, align_corners):
    out = F.grid_sample(
        x.permute(0, 3, 1, 2),
        grid.to(x.dtype),
        mode=mode,
        padding_mode=padding_mode,
        align_corners=align_corners,
    )
    return out.permute(0, 2, 3, 1)


def nearest_cell(x, size):
    iy, ix, offsets = reference.nearest_cell_offsets(
        x.shape[1], x.shape[2], size, x.dtype
    )
    features = x.index_select(1, iy.to(x.device)).index_select(2, ix.to(x.device))
    return features, offsets


def extract_windows(x, kernel_size, dilation):
    pad = dilation * (kernel_size // 2)
    span = dilation * (kernel_size - 1) + 1
    padded = F.pad(x, (0, 0, pad, pad, pad, pad))
    # Strided views (B, H, W, C, k, k): no copy until the final reshape.
    windows = padded.unfold(1, span, 1)[..., ::dilation]
    windows = windows.unfold(2, span, 1)[..., ::dilation]
    batch, height, width, channels = x.shape
    windows = windows.permute(0, 1, 2, 4, 5, 3)
    return windows.reshape(batch, height, width, kernel_size**2, channels)
