"""RTMDet's losses: quality focal loss on IoU soft labels and an IoU-weighted GIoU loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss

from detplug_core.dist import all_reduce_mean
from detplug_rtmdet.registries import MODELS


def quality_focal_loss(logits: Tensor, targets: Tensor, beta: float = 2.0) -> Tensor:
    """Quality focal loss (Li et al., GFL), element-wise: ``BCE(logit, q) * |q - p|^beta``
    with soft targets ``q`` in 0..1 and ``p = sigmoid(logit)``."""
    scale = (targets - logits.sigmoid()).abs().pow(beta)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * scale


@MODELS.register()
class RTMDetLoss:
    """``loss_cls``: quality focal loss of every (point, class) against the IoU soft label
    (the IoU of the point's predicted box with its match, at its class; 0 elsewhere).
    ``loss_bbox``: GIoU loss of the positive points, each weighted by that IoU. Both are
    divided by the sum of the soft labels over the batch (at least 1; under DDP its mean
    over ranks), as RTMDet does.

    Args:
        cls_weight, bbox_weight: multipliers (RTMDet: 1 and 2).
        beta: the focusing exponent of the quality focal loss.
    """

    def __init__(self, cls_weight: float = 1.0, bbox_weight: float = 2.0, beta: float = 2.0):
        self.cls_weight = float(cls_weight)
        self.bbox_weight = float(bbox_weight)
        self.beta = float(beta)

    def __call__(
        self,
        cls_logits: Tensor,
        pred_boxes: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
        quality: Tensor,
    ) -> dict[str, Tensor]:
        """cls_logits [N, A, C], pred_boxes [N, A, 4] xyxy; per point the matched box
        gt_boxes [N, A, 4], label gt_labels [N, A] (-1: background) and soft label
        quality [N, A]."""
        cls_logits = cls_logits.float()
        fg = gt_labels >= 0
        weight = quality[fg]
        avg = all_reduce_mean(weight.sum().detach()).clamp(min=1.0)
        targets = torch.zeros_like(cls_logits)
        targets[fg, gt_labels[fg]] = weight
        loss_cls = quality_focal_loss(cls_logits, targets, self.beta).sum()
        giou = generalized_box_iou_loss(pred_boxes[fg].float(), gt_boxes[fg], reduction="none")
        loss_bbox = (giou * weight).sum()
        return {
            "loss_cls": loss_cls / avg * self.cls_weight,
            "loss_bbox": loss_bbox / avg * self.bbox_weight,
        }
