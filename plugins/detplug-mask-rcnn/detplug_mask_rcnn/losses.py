"""The mask loss (He et al. 2017, section 3): per positive RoI, the average binary
cross-entropy of the mask of its ground-truth class against that ground truth's mask
cropped to the RoI and resized to the mask's grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou, roi_align

from detplug_mask_rcnn.registries import MODELS


def mask_targets(gt_masks: Tensor, gt_index: Tensor, rois: Tensor, size: int) -> Tensor:
    """The part of each RoI's ground-truth mask inside the RoI, on a ``size x size`` grid:
    ``gt_masks`` [G, H, W] (0/1), ``gt_index`` [P] (which mask), ``rois`` [P, 4] xyxy ->
    [P, size, size] in 0..1 (RoIAlign, bilinear, so edges come out fractional)."""
    boxes = torch.cat([gt_index[:, None].to(rois), rois], dim=1)
    return roi_align(gt_masks[:, None].to(rois), boxes, (size, size), spatial_scale=1.0)[:, 0]


@MODELS.register()
class MaskLoss:
    """``loss_mask``: the mean binary cross-entropy, over every pixel of every positive RoI,
    of the RoI's mask logits of its class against :func:`mask_targets`; zero (with a
    gradient path) when the batch has no positive RoI.

    Each positive RoI's ground truth is the one it overlaps most (the RoI assigner's match
    of a positive, which is how it got its label)."""

    def __call__(
        self,
        mask_logits: Tensor,
        rois: list[Tensor],
        labels: Tensor,
        targets: list[dict[str, Tensor]],
    ) -> dict[str, Tensor]:
        """``mask_logits`` [P, C + 1, M, M] of the positive RoIs of all images in order,
        ``rois`` per image [P_i, 4], ``labels`` [P] (1-based), ``targets`` per image
        (``boxes`` [G, 4], ``masks`` [G, H, W])."""
        if labels.numel() == 0:
            return {"loss_mask": mask_logits.sum() * 0}
        size = mask_logits.shape[-1]
        wanted = []
        for boxes, t in zip(rois, targets, strict=True):
            if boxes.shape[0] == 0:
                continue
            gt_boxes = t["boxes"].to(boxes.dtype)
            best = box_iou(gt_boxes, boxes).max(dim=0).indices  # [P_i]
            wanted.append(mask_targets(t["masks"], best, boxes, size))
        rows = torch.arange(labels.shape[0], device=labels.device)
        chosen = mask_logits[rows, labels]  # [P, M, M]
        loss = F.binary_cross_entropy_with_logits(chosen, torch.cat(wanted).to(chosen.dtype))
        return {"loss_mask": loss}
