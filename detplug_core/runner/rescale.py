"""Predictions and ground truth from the pixels of the evaluated image (after the eval
pipeline's resize) back to those of the file on disk (``orig_size``), where metrics count.

Boxes scale. Masks are resampled: probabilities (floating point) bilinearly, as
torchvision's detection transform brings its masks back; binary or label masks (integer,
bool: the ground truth) by taking, for each original pixel, the first resized pixel that
nearest-neighbour resizing (torchvision's for ``tv_tensors.Mask``) filled from it, which
undoes an enlargement exactly. A shrunk mask cannot be undone exactly (pixels were
dropped); it comes back at the original size all the same.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["rescale_boxes", "rescale_masks"]


def _target_size(size: tuple[int, int], orig: Any) -> tuple[int, int] | None:
    """``orig`` as (H, W) ints, or None when there is nothing to do."""
    if orig is None:
        return None
    oh, ow = int(orig[0]), int(orig[1])
    return None if (oh, ow) == tuple(size) else (oh, ow)


def rescale_boxes(boxes: torch.Tensor, size: tuple[int, int], orig: Any) -> torch.Tensor:
    """Boxes (xyxy) from an image of ``size`` (H, W) to one of ``orig`` (H, W)."""
    target = _target_size(size, orig)
    if target is None or boxes.numel() == 0:
        return boxes
    (oh, ow), (h, w) = target, size
    scale = torch.tensor([ow / w, oh / h, ow / w, oh / h], dtype=boxes.dtype)
    return boxes * scale


def _source_index(orig: int, current: int) -> torch.Tensor:
    """For each of ``orig`` pixels, the first of ``current`` pixels that a nearest resize
    from ``orig`` to ``current`` (index ``floor(i * orig / current)``) filled from it."""
    index = torch.ceil(torch.arange(orig, dtype=torch.float64) * current / orig)
    return index.clamp_(max=current - 1).to(torch.int64)


def rescale_masks(masks: torch.Tensor, size: tuple[int, int], orig: Any) -> torch.Tensor:
    """Masks [..., H, W] of an image of ``size`` (H, W) resampled to ``orig`` (H, W): bilinear
    for floating point (probabilities), the nearest-resize inverse for the rest (binary)."""
    target = _target_size(size, orig)
    if target is None or tuple(masks.shape[-2:]) != tuple(size):
        return masks
    oh, ow = target
    if masks.is_floating_point():
        if masks.numel() == 0:
            return masks.new_zeros((*masks.shape[:-2], oh, ow))
        flat = masks.reshape(-1, 1, *size)
        out = F.interpolate(flat, size=(oh, ow), mode="bilinear", align_corners=False)
        return out.reshape(*masks.shape[:-2], oh, ow)
    rows, cols = _source_index(oh, size[0]), _source_index(ow, size[1])
    return masks[..., rows[:, None], cols[None, :]]
