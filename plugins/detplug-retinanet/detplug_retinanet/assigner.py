"""Anchor-to-ground-truth assignment by IoU (torchvision's Matcher as the library)."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection._utils import Matcher
from torchvision.ops import box_iou

from detplug_retinanet.registries import MODELS

NEGATIVE = Matcher.BELOW_LOW_THRESHOLD  # -1
IGNORED = Matcher.BETWEEN_THRESHOLDS  # -2


@MODELS.register()
class MaxIoUAssigner:
    """Each anchor takes the ground truth it overlaps most.

    IoU >= ``pos_iou_thr``: positive (the GT index); < ``neg_iou_thr``: negative (-1); in
    between: ignored (-2). With ``allow_low_quality_matches`` every GT also keeps the
    anchors it overlaps best, whatever the IoU (RetinaNet, RPN).
    """

    def __init__(
        self,
        pos_iou_thr: float = 0.5,
        neg_iou_thr: float = 0.4,
        allow_low_quality_matches: bool = True,
    ) -> None:
        self.matcher = Matcher(pos_iou_thr, neg_iou_thr, allow_low_quality_matches)

    def __call__(self, anchors: Tensor, gt_boxes: Tensor) -> Tensor:
        """anchors [A, 4], gt_boxes [G, 4] -> matched GT index per anchor [A] (int64)."""
        if gt_boxes.numel() == 0:
            return torch.full(
                (anchors.shape[0],), NEGATIVE, dtype=torch.int64, device=anchors.device
            )
        return self.matcher(box_iou(gt_boxes, anchors))
