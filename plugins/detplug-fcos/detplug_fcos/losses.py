"""FCOS losses: sigmoid focal loss, GIoU loss and centerness BCE over assigned points."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from detplug_core.dist import all_reduce_mean
from detplug_fcos import coder
from detplug_fcos.registries import MODELS


@MODELS.register()
class FCOSLoss:
    """Each loss is summed and divided by the number of positive points in the batch (at
    least 1), as in torchvision; under DDP by the mean number over ranks, as MMDetection does. Names: ``loss_cls``, ``loss_bbox``, ``loss_centerness``.

    Args:
        focal_alpha, focal_gamma: of ``torchvision.ops.sigmoid_focal_loss``.
        cls_weight, bbox_weight, centerness_weight: multipliers of the three losses.
    """

    def __init__(
        self,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        cls_weight: float = 1.0,
        bbox_weight: float = 1.0,
        centerness_weight: float = 1.0,
    ) -> None:
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.weights = (cls_weight, bbox_weight, centerness_weight)

    def __call__(
        self,
        cls_logits: Tensor,
        box_deltas: Tensor,
        ctr_logits: Tensor,
        points: Tensor,
        sizes: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
    ) -> dict[str, Tensor]:
        """cls_logits [N, A, C], box_deltas [N, A, 4], ctr_logits [N, A], points [A, 2],
        sizes [A], gt_boxes [N, A, 4] and gt_labels [N, A] (-1: background) per point."""
        cls_logits, box_deltas, ctr_logits = (
            cls_logits.float(),
            box_deltas.float(),
            ctr_logits.float(),
        )
        fg = gt_labels >= 0  # [N, A]
        # Normalised by the mean number of positives over DDP ranks (the global count /
        # world size): with DDP's gradient averaging the sum of every rank's loss is then
        # divided by the global count, as one process with the whole batch does.
        num_fg = all_reduce_mean(fg.sum().to(cls_logits.dtype)).clamp(min=1)

        cls_targets = torch.zeros_like(cls_logits)
        cls_targets[fg, gt_labels[fg]] = 1.0
        loss_cls = sigmoid_focal_loss(
            cls_logits, cls_targets, self.focal_alpha, self.focal_gamma, reduction="sum"
        )

        fg_points = points.expand(fg.shape[0], -1, -1)[fg]  # [P, 2]
        fg_sizes = sizes.expand(fg.shape[0], -1)[fg]  # [P]
        fg_gt = gt_boxes[fg]  # [P, 4]
        pred_boxes = coder.decode(box_deltas[fg], fg_points, fg_sizes)
        loss_bbox = generalized_box_iou_loss(pred_boxes, fg_gt, reduction="sum")

        ctr_targets = coder.centerness(coder.encode(fg_gt, fg_points, fg_sizes))
        loss_ctr = F.binary_cross_entropy_with_logits(ctr_logits[fg], ctr_targets, reduction="sum")
        w_cls, w_bbox, w_ctr = self.weights
        return {
            "loss_cls": loss_cls / num_fg * w_cls,
            "loss_bbox": loss_bbox / num_fg * w_bbox,
            "loss_centerness": loss_ctr / num_fg * w_ctr,
        }
