"""RetinaNet's losses: sigmoid focal loss for classes; L1, smooth-L1 or GIoU for boxes.

Every loss returns one summed value per input row (times ``loss_weight``); ``RetinaNetLoss``
(the detector's ``loss`` part) adds them up per image and divides by that image's number of
positive anchors, as the RetinaNet paper and torchvision do.
A box loss says whether it compares encoded deltas (``on_boxes = False``) or decoded boxes
(``on_boxes = True``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from detplug_retinanet.assigner import IGNORED
from detplug_retinanet.registries import MODELS


@MODELS.register()
class RetinaNetLoss:
    """The detector's ``loss`` part: ``loss_cls`` over non-ignored anchors and ``loss_bbox``
    over positives, each divided by the image's number of positives (at least 1), then
    averaged over images (torchvision's RetinaNet).

    Args:
        loss_cls: per-anchor class loss config (default ``FocalLoss``).
        loss_bbox: box loss config (default ``L1Loss``; ``SmoothL1Loss``, ``GIoULoss``).
        box_coder: the detector's box coder (handed over by the detector, not configured).
    """

    def __init__(
        self,
        loss_cls: Mapping[str, Any] | None = None,
        loss_bbox: Mapping[str, Any] | None = None,
        box_coder: BoxCoder | None = None,
    ) -> None:
        self.loss_cls = MODELS.build(loss_cls or {"type": "FocalLoss"})
        self.loss_bbox = MODELS.build(loss_bbox or {"type": "L1Loss"})
        self.box_coder = box_coder or BoxCoder((1.0, 1.0, 1.0, 1.0))

    def __call__(
        self,
        logits: Tensor,
        deltas: Tensor,
        anchors: Tensor,
        matched: Tensor,
        targets: list[dict[str, Any]],
    ) -> dict[str, Tensor]:
        """logits [N, sum HWA, K], deltas [N, sum HWA, 4], anchors [sum HWA, 4], matched GT
        index per anchor [N, sum HWA] (-1 negative, -2 ignored) -> ``{"loss_cls",
        "loss_bbox"}``."""
        num_images = len(targets)
        positive = matched >= 0
        num_pos = positive.sum(dim=1).clamp(min=1).to(logits.dtype)  # [N]

        # One-hot class targets for positives; ignored anchors take no part.
        img_idx, anchor_idx = positive.nonzero(as_tuple=True)  # [P], [P]
        gt_idx = [m[p] for m, p in zip(matched, positive, strict=True)]  # per image [P_i]
        gt_labels = torch.cat([t["labels"][i] for t, i in zip(targets, gt_idx, strict=True)])
        cls_targets = torch.zeros_like(logits)
        cls_targets[img_idx, anchor_idx, gt_labels] = 1.0
        valid = matched != IGNORED
        per_anchor = self.loss_cls(logits[valid], cls_targets[valid])  # [M]
        cls_per_image = logits.new_zeros(num_images).index_add_(
            0, valid.nonzero(as_tuple=True)[0], per_anchor
        )

        gt_boxes = torch.cat([t["boxes"][i] for t, i in zip(targets, gt_idx, strict=True)])
        pos_anchors, pos_deltas = anchors[anchor_idx], deltas[img_idx, anchor_idx]  # [P, 4]
        if self.loss_bbox.on_boxes:
            pred = self.box_coder.decode_single(pos_deltas, pos_anchors)
            box_loss = self.loss_bbox(pred, gt_boxes)
        else:
            box_loss = self.loss_bbox(
                pos_deltas, self.box_coder.encode_single(gt_boxes, pos_anchors)
            )
        box_per_image = logits.new_zeros(num_images).index_add_(0, img_idx, box_loss)
        return {
            "loss_cls": (cls_per_image / num_pos).sum() / num_images,
            "loss_bbox": (box_per_image / num_pos).sum() / max(1, num_images),
        }


@MODELS.register()
class FocalLoss(nn.Module):
    """Sigmoid focal loss (Lin et al. 2017) over one-hot targets."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha, self.gamma, self.loss_weight = alpha, gamma, loss_weight

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        """logits, targets [M, K] -> per-row sums [M]."""
        loss = sigmoid_focal_loss(logits, targets, self.alpha, self.gamma, reduction="none")
        return loss.sum(dim=1) * self.loss_weight


@MODELS.register()
class L1Loss(nn.Module):
    """L1 distance between predicted and target deltas (torchvision's RetinaNet default)."""

    on_boxes = False

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred, target deltas [M, 4] -> [M]."""
        return F.l1_loss(pred, target, reduction="none").sum(dim=1) * self.loss_weight


@MODELS.register()
class SmoothL1Loss(nn.Module):
    """Smooth-L1 (Huber-like) distance between deltas; quadratic below ``beta``."""

    on_boxes = False

    def __init__(self, beta: float = 1.0 / 9, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta, self.loss_weight = beta, loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred, target deltas [M, 4] -> [M]."""
        loss = F.smooth_l1_loss(pred, target, beta=self.beta, reduction="none")
        return loss.sum(dim=1) * self.loss_weight


@MODELS.register()
class GIoULoss(nn.Module):
    """1 - generalised IoU between decoded predicted boxes and their GT boxes."""

    on_boxes = True

    def __init__(self, eps: float = 1e-7, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps, self.loss_weight = eps, loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred, target boxes [M, 4] xyxy -> [M]."""
        loss = generalized_box_iou_loss(pred, target, reduction="none", eps=self.eps)
        return loss * self.loss_weight
