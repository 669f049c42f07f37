"""Samples whose pixels paint their instance masks, and the check that a transform moved
the masks with the image: each instance is painted 255 in channel 0 and its own code
(``code(label)``) in channel 2, the background 0 in both, so after any transform the
pixels of instance ``label`` are those with channel 0 ~ 255 and channel 2 ~ its code."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import Tensor
from torchvision import tv_tensors

STEP = 20  # channel-2 codes 20, 40, ... 240: labels 0..11


def code(label: int) -> int:
    return STEP * (label + 1)


def ignored(labels: Tensor) -> Tensor:
    """The ignore flag the samples give each instance (as if crowd): label % 3 == 2."""
    return labels % 3 == 2


def mask_sample(height: int, width: int, shapes: list, first_label: int = 0, channel1: int = 0):
    """uint8 RGB image and target with one instance per shape: ``[x1, y1, x2, y2]`` a
    rectangle, ``("L", x1, y1, x2, y2)`` an L (the rectangle's left and bottom bars,
    a third of its width/height thick). Labels count from ``first_label``; boxes are the
    masks' pixel extents (COCO's, x2/y2 exclusive); channel 1 is ``channel1`` everywhere."""
    masks = torch.zeros(len(shapes), height, width, dtype=torch.uint8)
    for k, shape in enumerate(shapes):
        if shape[0] == "L":
            x1, y1, x2, y2 = shape[1:]
            masks[k, y1:y2, x1 : x1 + max(1, (x2 - x1) // 3)] = 1
            masks[k, y2 - max(1, (y2 - y1) // 3) : y2, x1:x2] = 1
        else:
            x1, y1, x2, y2 = shape
            masks[k, y1:y2, x1:x2] = 1
    labels = torch.arange(first_label, first_label + len(shapes), dtype=torch.int64)
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    image[1] = channel1
    for mask, label in zip(masks.bool(), labels.tolist(), strict=True):
        image[0][mask] = 255
        image[2][mask] = code(label)
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            extents(masks), format="XYXY", canvas_size=(height, width)
        ),
        "labels": labels,
        "ignore": ignored(labels),
        "masks": tv_tensors.Mask(masks),
        "image_id": first_label,
        "orig_size": (height, width),
        "file_name": f"{first_label}.png",
    }
    return tv_tensors.Image(image), target


def extents(masks: Tensor) -> Tensor:
    """Each mask's pixel extent x1, y1, x2, y2 (x2, y2 exclusive); zeros for an empty one."""
    out = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks.bool()):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if len(xs):
            out[k] = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
    return out


def painted(image: Tensor, label: int) -> Tensor:
    """bool [H, W]: the pixels that show instance ``label`` (all of it, not its edges)."""
    pixels = image.as_subclass(Tensor).float()
    if image.is_floating_point():
        pixels = pixels * 255
    return (pixels[0] >= 250) & ((pixels[2] - code(label)).abs() <= 6)


def _grow(mask: Tensor, band: int, outside: bool) -> Tensor:
    """``mask`` grown by ``band`` pixels; ``outside``: what lies beyond the image's border."""
    padded = nnf.pad(mask[None, None].float(), [band] * 4, value=float(outside))
    return nnf.max_pool2d(padded, 2 * band + 1, 1)[0, 0] > 0


def assert_masks_follow_pixels(
    image: Tensor, target: dict, *, band: int = 0, box_tol: float = 1.0, tight: bool = True
) -> dict[int, float]:
    """Every mask coincides with its instance's painted pixels (exactly with ``band`` 0;
    else everywhere but within ``band`` pixels of the mask's edge, where resampling blends
    the image), lies in its box (``box_tol``), and (``tight``) spans it; the masks, boxes,
    labels and ignore flags are one per instance, in one order. Returns each label's IoU."""
    masks, boxes, labels = target["masks"], target["boxes"], target["labels"]
    assert isinstance(masks, tv_tensors.Mask), type(masks)
    assert masks.dtype == torch.uint8 and set(masks.unique().tolist()) <= {0, 1}
    assert masks.shape == (len(boxes), *image.shape[-2:])
    assert len(labels) == len(boxes) == len(target["ignore"])
    assert target["ignore"].tolist() == ignored(labels).tolist()
    assert len(set(labels.tolist())) == len(labels)  # each instance once
    ious = {}
    for mask, box, label in zip(
        masks.bool(), boxes.as_subclass(Tensor), labels.tolist(), strict=True
    ):
        shown = painted(image, label)
        wrong = mask ^ shown
        if band:
            edge = _grow(mask, band, False) & _grow(~mask, band, True)
            wrong &= ~edge
        assert not wrong.any(), (label, int(wrong.sum()), wrong.nonzero()[:5].tolist())
        ious[label] = float((mask & shown).sum() / (mask | shown).sum().clamp(min=1))
        if not mask.any():
            continue
        ext = extents(mask[None])[0]
        assert (ext[:2] >= box[:2] - box_tol).all() and (ext[2:] <= box[2:] + box_tol).all(), (
            label,
            ext.tolist(),
            box.tolist(),
        )
        if tight:
            assert (ext - box).abs().max() <= box_tol, (label, ext.tolist(), box.tolist())
    return ious
