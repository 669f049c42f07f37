"""Instance masks for ``CocoMetric(iou_type="segm")``: predictions and ground truth as COCO
run-length encodings (pycocotools' compressed RLE), made once per batch by
``CocoMetric.prepare`` so that no image-sized mask is kept until ``compute()``.

Masks are evaluated in the pixels of ``orig_size`` (the evaluator brings predicted ``masks``
and ground-truth ``masks`` there, and ``box_masks`` are pasted at the boxes it rescaled);
predictions are binarised at 0.5 (``detplug_torchvision.masks.image_masks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from detplug_torchvision.masks import encode_rle, image_masks

from detplug_core.errors import ConfigError, DataError

__all__ = [
    "DENSE_MASK_KEYS",
    "RLE_KEY",
    "compact_masks",
    "prediction_rles",
    "target_rles",
]

#: where ``prepare`` puts a prediction's or target's masks, one RLE per box
RLE_KEY = "masks_rle"
#: the dense masks ``prepare`` replaces (predictions: ``masks`` or ``box_masks``)
DENSE_MASK_KEYS = ("masks", "box_masks")


def _image_size(item: Mapping, masks: Any, where: str) -> tuple[int, int]:
    """``orig_size`` when given, else the (H, W) of full-image ``masks``."""
    if item.get("orig_size") is not None:
        height, width = (int(v) for v in item["orig_size"])
        return height, width
    if masks is None:
        raise ValueError(f"{where}: 'box_masks' need the target's 'orig_size' (the image size)")
    return int(masks.shape[-2]), int(masks.shape[-1])


def prediction_rles(prediction: Mapping, target: Mapping, where: str) -> list[dict]:
    """The RLE of each detection's binary mask (probability >= 0.5) in the image of the
    target's ``orig_size``: from ``masks_rle`` as given, or ``masks`` / ``box_masks``."""
    if prediction.get(RLE_KEY) is not None:
        return list(prediction[RLE_KEY])
    if prediction.get("masks") is None and prediction.get("box_masks") is None:
        raise ConfigError(
            f"{where}: iou_type 'segm' needs predictions with 'masks' [D, 1, H, W] or "
            f"'box_masks' [D, 1, M, M], and this one has {sorted(prediction)}; evaluate "
            f"masks with a mask model (e.g. Mask R-CNN), or set the metric's iou_type: bbox"
        )
    size = _image_size(target, prediction.get("masks"), where)
    binary = image_masks(dict(prediction), size)
    assert binary is not None  # one of the two keys is there
    num_boxes = len(torch.as_tensor(prediction["boxes"]).reshape(-1, 4))
    if binary.shape[0] != num_boxes:
        raise ValueError(f"{where}: {binary.shape[0]} masks for {num_boxes} boxes")
    return encode_rle(binary)


def target_rles(target: Mapping, where: str) -> list[dict]:
    """The RLE of each ground-truth mask (nonzero = inside), crowd regions included, in the
    pixels of ``orig_size``: from ``masks_rle`` as given, or ``masks`` [K, H, W]."""
    if target.get(RLE_KEY) is not None:
        return list(target[RLE_KEY])
    if target.get("masks") is None:
        raise DataError(
            f"{where}: iou_type 'segm' needs ground-truth masks, and this target has no "
            f"'masks'; set `with_masks: true` on the evaluated dataset "
            f"(val_dataloader.dataset / test_dataloader.dataset)"
        )
    masks = torch.as_tensor(target["masks"])
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    size = _image_size(target, masks, where)
    num_boxes = len(torch.as_tensor(target["boxes"]).reshape(-1, 4))
    if masks.dim() != 3 or masks.shape[0] != num_boxes or tuple(masks.shape[-2:]) != size:
        raise ValueError(
            f"{where}: ground-truth 'masks' must be [K, H, W] with K = {num_boxes} boxes and "
            f"(H, W) = {size} (orig_size), got {list(masks.shape)}"
        )
    return encode_rle(masks != 0)


def compact_masks(
    predictions: Sequence[Mapping], targets: Sequence[Mapping], keep_segm: bool
) -> tuple[list[dict], list[dict]]:
    """New predictions and targets with their dense masks replaced by ``masks_rle`` (when
    ``keep_segm``) or dropped (a box-only metric needs none); the inputs are not modified."""
    new_preds, new_targets = [], []
    for pred, target in zip(predictions, targets, strict=True):
        where = f"CocoMetric.prepare(image_id={target.get('image_id')})"
        pred_out = {k: v for k, v in pred.items() if k not in DENSE_MASK_KEYS}
        target_out = {k: v for k, v in target.items() if k != "masks"}
        if keep_segm:
            pred_out[RLE_KEY] = prediction_rles(pred, target, where)
            target_out[RLE_KEY] = target_rles(target, where)
        new_preds.append(pred_out)
        new_targets.append(target_out)
    return new_preds, new_targets
