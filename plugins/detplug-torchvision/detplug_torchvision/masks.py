"""Instance masks shared by detectors, metrics and deployment: masks predicted on a fixed RoI
grid, pasted into the image at their boxes.

The geometry is torchvision's documented one (``paste_masks_in_image``, after Detectron):
the ``M x M`` mask gets a one-pixel zero border, so its box grows by ``(M + 2) / M`` about
its centre; the grown box is cut to whole pixels (truncated towards zero), the bordered mask
resized bilinearly to that many pixels (``x1 - x0 + 1`` wide) and written into the image,
clipped at its edges. The zero border makes the mask fade out at the box instead of ending
in a hard edge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def paste_masks(masks: Tensor, boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """``masks`` [N, 1, M, M] (probabilities), ``boxes`` [N, 4] xyxy in image pixels ->
    [N, 1, H, W] masks in the image of ``image_size`` (H, W), zero outside each box."""
    height, width = image_size
    pasted = masks.new_zeros((masks.shape[0], 1, height, width))
    if masks.shape[0] == 0:
        return pasted
    size = masks.shape[-1]
    bordered = F.pad(masks, (1, 1, 1, 1))
    grow = (size + 2) / size
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * grow  # [N, 2]: half width, half height
    centre = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    windows = torch.cat([centre - half, centre + half], dim=1).to(torch.int64).tolist()
    for i, (x0, y0, x1, y1) in enumerate(windows):
        resized = F.interpolate(
            bordered[i : i + 1],
            size=(max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1)),
            mode="bilinear",
            align_corners=False,
        )[0, 0]
        top, left = max(y0, 0), max(x0, 0)
        bottom, right = min(y1 + 1, height), min(x1 + 1, width)
        if bottom > top and right > left:
            pasted[i, 0, top:bottom, left:right] = resized[
                top - y0 : bottom - y0, left - x0 : right - x0
            ]
    return pasted
