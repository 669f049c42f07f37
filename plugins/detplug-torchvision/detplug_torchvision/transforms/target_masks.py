"""Instance masks of a sample's target for the transforms that move them themselves
(``Mosaic``, ``MixUp``, ``DropIgnored``, ``SanitizeBoxes``): read, check, select, resize
and place them.

``target["masks"]`` is a ``tv_tensors.Mask`` [K, H, W], one per box in box order, H and W
the image's (docs/data.md). torchvision's own kernels move it with the image; these
helpers read and check it where a transform places pixels itself, so that a mask that no
longer matches its boxes is refused by name instead of passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors

from detplug_core.errors import BuildError
from detplug_torchvision.datasets.errors import SampleError

__all__ = [
    "MASKS",
    "check_keys_leave_out_masks",
    "masks_of",
    "place_masks",
    "resize_masks",
    "select_masks",
]

#: the target key of the instance masks
MASKS = "masks"


def _where(target: dict) -> str:
    """How an error names the sample: its image id and file, when the target has them."""
    parts = [f"image_id {target['image_id']}"] if "image_id" in target else []
    if "file_name" in target:
        parts.append(str(target["file_name"]))
    return f" ({', '.join(parts)})" if parts else ""


def masks_of(target: dict, name: str, num_boxes: int, size: Any = None) -> Tensor | None:
    """``target["masks"]`` as a plain tensor [K, H, W], or None when the target has none.

    K must be ``num_boxes`` and, when ``size`` is given, (H, W) must be ``size``: anything
    else is a SampleError naming the transform ``name`` and the sample."""
    masks = target.get(MASKS)
    if masks is None:
        return None
    if not isinstance(masks, Tensor):
        raise SampleError(
            f"{name}: target['masks'] must be a tv_tensors.Mask [K, H, W], got "
            f"{type(masks).__name__}{_where(target)}"
        )
    expected = [num_boxes, *(size if size is not None else masks.shape[-2:])]
    if masks.ndim != 3 or list(masks.shape) != [int(v) for v in expected]:
        raise SampleError(
            f"{name}: target['masks'] has shape {list(masks.shape)}, expected "
            f"{[int(v) for v in expected]} (one mask per box, the image's height and "
            f"width){_where(target)}"
        )
    return masks.as_subclass(Tensor)


def select_masks(masks: Tensor, keep: Tensor) -> tv_tensors.Mask:
    """The masks of the kept boxes (``keep``: bool [K] or indices), in order, as a Mask."""
    return tv_tensors.Mask(masks.as_subclass(Tensor)[keep])


def check_keys_leave_out_masks(name: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """``keys`` (per-box entries indexed like the boxes) without ``masks``, which the
    transform ``name`` moves itself; listing it is a BuildError saying so."""
    if MASKS in keys:
        raise BuildError(
            f"{name}: 'masks' in keys: {name} moves target['masks'] with the image itself; "
            "keys are the per-box entries that are only selected (labels, ignore, ...)"
        )
    return keys


def resize_masks(masks: Tensor, size: Sequence[int]) -> Tensor:
    """Masks [K, h, w] resized to ``size`` (h, w) by nearest neighbour with pixel centres
    aligned (``nearest-exact``): each mask edge stays within half a pixel of where the
    resize puts it (mean offset 0). torchvision's ``Mask`` kernel (``nearest``) samples at
    each pixel's top-left corner, which moves edges 0 to 1 pixel down-right (mean +0.46 px
    over random scales 0.3-6.5). The dtype is kept (bool included)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    if len(masks) == 0:
        return masks.new_zeros((0, *size))
    data = masks.to(torch.uint8) if masks.dtype == torch.bool else masks  # (no bool kernel)
    out = torch.nn.functional.interpolate(data[None], size=list(size), mode="nearest-exact")[0]
    return out.to(masks.dtype)


def place_masks(pieces: Sequence[tuple[Tensor, tuple[int, int]]], size: Sequence[int]) -> Tensor:
    """Each piece's masks [k, h, w] with their top-left corner at its ``(y, x)`` shift on
    one empty (0) canvas of ``size`` (H, W), in order: [sum k, H, W], what falls outside
    cut. One buffer, written once (a 1280-px mosaic's masks are 1.6 MB each)."""
    height, width = size
    total = sum(len(masks) for masks, _ in pieces)
    out = torch.zeros((total, height, width), dtype=pieces[0][0].dtype)
    start = 0
    for masks, (dy, dx) in pieces:
        y1, y2 = max(dy, 0), min(dy + masks.shape[1], height)
        x1, x2 = max(dx, 0), min(dx + masks.shape[2], width)
        if y2 > y1 and x2 > x1:
            out[start : start + len(masks), y1:y2, x1:x2] = masks[
                :, y1 - dy : y2 - dy, x1 - dx : x2 - dx
            ]
        start += len(masks)
    return out
