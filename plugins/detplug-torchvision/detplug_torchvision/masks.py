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

import numpy as np
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


#: mask probability -> binary mask: the one threshold of detplug's masks (metric, Detector,
#: infer, drawing, export)
MASK_THRESHOLD = 0.5


def image_masks(
    prediction: dict, image_size: tuple[int, int], threshold: float = MASK_THRESHOLD
) -> Tensor | None:
    """Binary masks (bool [D, H, W]) of a prediction in an image of ``image_size`` (H, W):
    from ``masks`` ([D, 1, h, w] or [D, h, w] probabilities or 0/1 in any image size,
    resized bilinearly when (h, w) differs) or from ``box_masks`` ([D, 1, M, M] on each
    box's grid, pasted at ``boxes``, which must already be in that image's pixels). None
    when the prediction has neither."""
    height, width = image_size
    if prediction.get("masks") is not None:
        masks = torch.as_tensor(prediction["masks"])
        if masks.dim() == 3:
            masks = masks[:, None]
        if masks.dtype == torch.bool or not masks.is_floating_point():
            masks = masks.float()
        if tuple(masks.shape[-2:]) != (height, width) and masks.shape[0]:
            masks = F.interpolate(masks, size=(height, width), mode="bilinear", align_corners=False)
    elif prediction.get("box_masks") is not None:
        grids = torch.as_tensor(prediction["box_masks"]).float()
        if grids.dim() == 3:
            grids = grids[:, None]
        boxes = torch.as_tensor(prediction["boxes"]).float().reshape(-1, 4)
        masks = paste_masks(grids, boxes, (height, width))
    else:
        return None
    return (
        masks[:, 0] >= threshold
        if masks.shape[0]
        else masks.new_zeros((0, height, width), dtype=torch.bool)
    )


def encode_rle(masks: Tensor) -> list[dict]:
    """COCO run-length encodings (``{"size": [H, W], "counts": str}``, pycocotools' compressed
    form, as in COCO results files) of binary masks [D, H, W]."""
    from pycocotools import mask as mask_utils

    array = masks.to(torch.uint8).cpu().numpy()
    if not len(array):
        return []
    encoded = mask_utils.encode(np.asfortranarray(array.transpose(1, 2, 0)))
    return [
        {"size": [int(v) for v in e["size"]], "counts": e["counts"].decode("ascii")}
        for e in encoded
    ]
