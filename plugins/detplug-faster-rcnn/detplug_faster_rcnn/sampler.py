"""Target assignment of the two stages: anchors (RPN) and proposals (RoI stage) are matched
to ground truth by IoU and sampled, positives and negatives balanced."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.ops import box_iou

from detplug_faster_rcnn.registries import MODELS


class BalancedSampler:
    """Draws at most ``num * positive_fraction`` positives, then fills ``num`` with negatives.

    ``labels`` per image: -1 ignored, 0 negative, >= 1 positive. Draws use
    ``torch.randperm`` on the labels' device, one for the positives then one for the
    negatives of each image, in image order: the same random stream as torchvision's
    ``BalancedPositiveNegativeSampler``, so both pick the same elements under one seed.
    """

    def __init__(self, num: int, positive_fraction: float) -> None:
        self.num = num
        self.positive_fraction = positive_fraction

    def __call__(self, labels: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """Per image: (sampled positive indices, sampled negative indices), both int64."""
        sampled = []
        for labels_per_image in labels:
            positive = torch.where(labels_per_image >= 1)[0]
            negative = torch.where(labels_per_image == 0)[0]
            num_pos = min(positive.numel(), int(self.num * self.positive_fraction))
            num_neg = min(negative.numel(), self.num - num_pos)
            pos_perm = torch.randperm(positive.numel(), device=positive.device)[:num_pos]
            neg_perm = torch.randperm(negative.numel(), device=negative.device)[:num_neg]
            sampled.append((positive[pos_perm], negative[neg_perm]))
        return sampled


class RPNSamples(NamedTuple):
    """The anchors the RPN's loss sees: ``pos_img``/``pos_anchor`` [P] index the sampled
    positives, ``img``/``anchor`` [S] every sampled anchor (positives first),
    ``objectness`` [S] their 0/1 targets and ``box_targets`` [P, 4] encoded deltas."""

    pos_img: Tensor
    pos_anchor: Tensor
    img: Tensor
    anchor: Tensor
    objectness: Tensor
    box_targets: Tensor


@MODELS.register()
class RPNAssigner:
    """Anchors with IoU >= ``fg_iou_thresh`` to a GT (and each GT's best anchors) are
    positives, < ``bg_iou_thresh`` negatives; ``batch_size_per_image`` of them are sampled
    per image (``positive_fraction`` positives at most), as torchvision's RPN does."""

    def __init__(
        self,
        box_coder: BoxCoder,
        fg_iou_thresh: float = 0.7,
        bg_iou_thresh: float = 0.3,
        batch_size_per_image: int = 256,
        positive_fraction: float = 0.5,
    ) -> None:
        self.box_coder = box_coder
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.sampler = BalancedSampler(batch_size_per_image, positive_fraction)

    def __call__(self, anchors: Tensor, targets: list[dict[str, Any]]) -> RPNSamples:
        """anchors [sum HWA, 4], targets per image (``boxes`` [G, 4])."""
        labels, matched = [], []
        for t in targets:
            if t["boxes"].numel() == 0:  # background image: every anchor is negative
                labels.append(torch.zeros(anchors.shape[0], device=anchors.device))
                matched.append(
                    torch.zeros(anchors.shape[0], dtype=torch.int64, device=anchors.device)
                )
                continue
            idx = self.matcher(box_iou(t["boxes"], anchors))  # [sum HWA]
            label = (idx >= 0).to(torch.float32)
            label[idx == Matcher.BETWEEN_THRESHOLDS] = -1.0
            labels.append(label)
            matched.append(idx.clamp(min=0))

        pos_img, pos_anchor, neg_img, neg_anchor = [], [], [], []
        for i, (pos, neg) in enumerate(self.sampler(labels)):
            pos_img.append(torch.full_like(pos, i))
            pos_anchor.append(pos)
            neg_img.append(torch.full_like(neg, i))
            neg_anchor.append(neg)
        pos_img, pos_anchor = torch.cat(pos_img), torch.cat(pos_anchor)
        img = torch.cat([pos_img, torch.cat(neg_img)])
        anchor = torch.cat([pos_anchor, torch.cat(neg_anchor)])

        gt_boxes = torch.cat(
            [t["boxes"][matched[i][pos_anchor[pos_img == i]]] for i, t in enumerate(targets)]
        )
        box_targets = self.box_coder.encode_single(gt_boxes, anchors[pos_anchor])
        objectness = torch.stack(labels)[img, anchor]
        return RPNSamples(pos_img, pos_anchor, img, anchor, objectness, box_targets)


@MODELS.register()
class RoIAssigner:
    """The GT boxes join the proposals; proposals with IoU >= ``fg_iou_thresh`` take their
    GT's class, < ``bg_iou_thresh`` are background; ``batch_size_per_image`` are sampled
    per image (``positive_fraction`` positives at most), as torchvision's RoIHeads does.

    Labels are 1-based with 0 the background class (torchvision's layout).
    """

    def __init__(
        self,
        box_coder: BoxCoder,
        fg_iou_thresh: float = 0.5,
        bg_iou_thresh: float = 0.5,
        batch_size_per_image: int = 512,
        positive_fraction: float = 0.25,
    ) -> None:
        self.box_coder = box_coder
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.sampler = BalancedSampler(batch_size_per_image, positive_fraction)

    def __call__(
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
