"""Masks pasted into the image inside an exported graph.

:func:`detplug_torchvision.masks.paste_masks` pastes one detection at a time into a window
whose integer bounds come from its box: a Python loop over a data-dependent count with
data-dependent slices, which neither ``torch.export`` nor ONNX can hold.
:func:`paste_masks_in_graph` computes the same masks for all detections at once, as tensor
arithmetic over the whole image.

Same geometry (torchvision's): the ``M x M`` mask with a one-pixel zero border (``S = M + 2``
a side), its box grown by ``S / M`` about the centre and truncated to whole pixels
``x0..x1`` (``n = x1 - x0 + 1`` pixels), the bordered mask resized bilinearly to ``n``
pixels with ``align_corners=False``. Bilinear resizing is separable, so the resize is two
matrix products: ``rows [D, H, S] @ mask [D, S, S] @ cols [D, S, W]`` where ``cols[d, :, x]``
holds the (at most two) interpolation weights of image column ``x``, computed as
``F.interpolate`` computes them (source index ``(j + 0.5) * S / n - 0.5`` of window pixel
``j = x - x0``, clamped at 0, its floor and the next index, clamped at ``S - 1``), and zero
outside the window. Memory: the ``[D, H, W]`` result and ``[D, S, H + W]`` weights, where a
grid for ``grid_sample`` would take ``[D, H, W, 2]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def paste_masks_in_graph(masks: Tensor, boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """``masks`` [D, 1, M, M] (probabilities), ``boxes`` [D, 4] xyxy in image pixels ->
    [D, H, W] float masks in the image of ``image_size`` (H, W) (ints or sizes an
    exported graph computes), zero outside each box's window; equal to
    :func:`~detplug_torchvision.masks.paste_masks` up to float rounding."""
    height, width = image_size
    bordered = F.pad(masks[:, 0].float(), (1, 1, 1, 1))  # [D, S, S]
    side = bordered.shape[-1]
    boxes = boxes.float()
    grow = side / (side - 2)
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * grow  # [D, 2]: half width, half height
    centre = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    start = (centre - half).to(torch.int64)  # truncated towards zero, as paste_masks
    end = (centre + half).to(torch.int64)
    cols = _weights(start[:, 0], end[:, 0], width, side)  # [D, W, S]
    rows = _weights(start[:, 1], end[:, 1], height, side)  # [D, H, S]
    return rows @ bordered @ cols.transpose(1, 2)


def _weights(start: Tensor, end: Tensor, length: int, side: int) -> Tensor:
    """[D, length, side]: the bilinear weights of each image pixel ``0..length-1`` on the
    bordered mask's ``side`` pixels, for windows ``start..end`` (inclusive) per detection."""
    size = (end - start + 1).clamp(min=1)  # [D]: window pixels
    pixel = torch.arange(length, device=start.device)  # [L]
    offset = pixel[None, :] - start[:, None]  # [D, L]: j, the pixel's index in its window
    scale = side / size.float()  # [D]
    source = ((offset.float() + 0.5) * scale[:, None] - 0.5).clamp(min=0)
    low = source.floor().to(torch.int64).clamp(max=side - 1)  # what interpolate's cast gives
    high = (low + 1).clamp(max=side - 1)
    frac = source - low.float()
    inside = (offset >= 0) & (offset < size[:, None])
    index = torch.arange(side, device=start.device)
    weights = (index == low[..., None]) * (1 - frac)[..., None] + (index == high[..., None]) * (
        frac[..., None]
    )
    return weights * inside[..., None]
