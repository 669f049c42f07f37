"""The second stage: pool each proposal with RoIAlign, classify it and refine its box.

Labels inside this module are 1-based with 0 the background class (torchvision's layout,
so its checkpoints load unchanged); the detector's labels 0..C-1 are shifted in and out.
Shapes: R proposals in the batch, C foreground classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detplug_torchvision.ops import multiscale_roi_align
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.ops import MultiScaleRoIAlign, box_iou

from detplug_faster_rcnn.registries import MODELS
from detplug_faster_rcnn.roi_postprocess import detections_from_rois
from detplug_faster_rcnn.sampler import BalancedSampler


@MODELS.register()
class RoIHead(nn.Module):
    """Faster R-CNN's box branch over ``torchvision.ops.MultiScaleRoIAlign``.

    Training: the GT boxes join the proposals; proposals with IoU >= ``fg_iou_thresh`` take
    their GT's class, < ``bg_iou_thresh`` are background; ``batch_size_per_image`` are
    sampled (``positive_fraction`` positives at most) for a cross-entropy class loss and a
    class-specific smooth-L1 box loss divided by the number sampled.
    Inference: softmax scores per class, boxes decoded per class, clipped; scores >
    ``score_thresh``, class-wise NMS at ``nms_thresh``, ``detections_per_img`` best.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        num_levels: int = 4,
        roi_size: int = 7,
        sampling_ratio: int = 2,
        box_head: dict | None = None,
        fg_iou_thresh: float = 0.5,
        bg_iou_thresh: float = 0.5,
        batch_size_per_image: int = 512,
        positive_fraction: float = 0.25,
        bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        smooth_l1_beta: float = 1.0 / 9,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.level_names = [str(i) for i in range(num_levels)]
        self.roi_align = MultiScaleRoIAlign(self.level_names, roi_size, sampling_ratio)
        self.box_head = MODELS.build(
            box_head or {"type": "TwoMLPHead"}, in_channels=in_channels, roi_size=roi_size
        )
        width = self.box_head.out_channels
        self.cls_score = nn.Linear(width, num_classes + 1)  # index 0: background
        self.bbox_pred = nn.Linear(width, (num_classes + 1) * 4)
        self.box_coder = BoxCoder(tuple(bbox_reg_weights))
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.sampler = BalancedSampler(batch_size_per_image, positive_fraction)
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img
        self.smooth_l1_beta = smooth_l1_beta

    def forward(
        self,
        features: list[Tensor],
        proposals: list[Tensor],
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> list[dict[str, Tensor]] | dict[str, Tensor]:
        """Losses when ``targets`` are given, else detections per image (labels 0..C-1)."""
        if targets is not None:
            proposals, labels, box_targets = self.sample(proposals, targets)
        logits, deltas = self.predict_rois(features, proposals, image_sizes)
        if targets is not None:
            return self.loss(logits, deltas, labels, box_targets)
        return detections_from_rois(
            logits,
            deltas,
            proposals,
            image_sizes,
            self.box_coder,
            self.score_thresh,
            self.nms_thresh,
            self.detections_per_img,
        )

    def predict_rois(
        self, features: list[Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> tuple[Tensor, Tensor]:
        """Class logits [R, C + 1] and per-class deltas [R, (C + 1) * 4], float32."""
        maps = dict(zip(self.level_names, features, strict=False))  # P6 is RPN-only
        pooled = multiscale_roi_align(self.roi_align, maps, proposals, image_sizes)  # [R,C,S,S]
        x = self.box_head(pooled)
        return _at_least_float32(self.cls_score(x)), _at_least_float32(self.bbox_pred(x))

    def sample(
        self, proposals: list[Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        """Sampled proposals per image, their labels [R] (0 = background) and box targets
        [R, 4], in torchvision's order (each image's sampled indices ascending)."""
        sampled_props, all_labels, all_gt = [], [], []
        per_image_labels, per_image_props, per_image_gt = [], [], []
        for props, t in zip(proposals, targets, strict=True):
            gt_boxes = t["boxes"].to(props.dtype)
            props = torch.cat([props, gt_boxes])
            if gt_boxes.numel() == 0:
                labels = torch.zeros(props.shape[0], dtype=torch.int64, device=props.device)
                matched_gt = torch.zeros_like(props)
            else:
                idx = self.matcher(box_iou(gt_boxes, props))
                labels = t["labels"][idx.clamp(min=0)] + 1
                labels[idx == Matcher.BELOW_LOW_THRESHOLD] = 0
                labels[idx == Matcher.BETWEEN_THRESHOLDS] = -1
                matched_gt = gt_boxes[idx.clamp(min=0)]
            per_image_labels.append(labels)
            per_image_props.append(props)
            per_image_gt.append(matched_gt)
        for (pos, neg), labels, props, gt in zip(
            self.sampler(per_image_labels),
            per_image_labels,
            per_image_props,
            per_image_gt,
            strict=True,
        ):
            keep = torch.cat([pos, neg]).sort().values
            sampled_props.append(props[keep])
            all_labels.append(labels[keep])
            all_gt.append(gt[keep])
        box_targets = self.box_coder.encode_single(torch.cat(all_gt), torch.cat(sampled_props))
        return sampled_props, torch.cat(all_labels), box_targets

    def loss(
        self, logits: Tensor, deltas: Tensor, labels: Tensor, box_targets: Tensor
    ) -> dict[str, Tensor]:
        """Cross-entropy over all sampled RoIs; smooth-L1 on the GT class's deltas of the
        positives, divided by the number of sampled RoIs."""
        loss_cls = F.cross_entropy(logits, labels)
        pos = torch.where(labels > 0)[0]
        deltas = deltas.reshape(deltas.shape[0], -1, 4)[pos, labels[pos]]  # [P, 4]
        loss_bbox = F.smooth_l1_loss(
            deltas, box_targets[pos], beta=self.smooth_l1_beta, reduction="sum"
        )
        return {"loss_cls": loss_cls, "loss_bbox": loss_bbox / max(1, labels.numel())}


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 (autocast) -> float32; float32 and float64 models keep theirs."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
