"""RetinaNet's losses: sigmoid focal loss for classes; L1, smooth-L1 or GIoU for boxes.

Every loss returns one summed value per input row (times ``loss_weight``); the head adds
them up per image and divides by that image's number of positive anchors, as the RetinaNet
paper and torchvision do.
A box loss says whether it compares encoded deltas (``on_boxes = False``) or decoded boxes
(``on_boxes = True``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from detplug_retinanet.registries import MODELS


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
