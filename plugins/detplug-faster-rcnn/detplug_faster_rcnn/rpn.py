"""Region proposal network: anchors, objectness and deltas, proposals, and its losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.ops import box_iou

from detplug_faster_rcnn.proposals import select_proposals
from detplug_faster_rcnn.registries import MODELS
from detplug_faster_rcnn.sampler import BalancedSampler

DEFAULT_ANCHORS = {
    "type": "AnchorGenerator",
    "sizes": [[32], [64], [128], [256], [512]],
    "aspect_ratios": [0.5, 1.0, 2.0],
}


@MODELS.register()
class RPN(nn.Module):
    """torchvision's RegionProposalNetwork, composed from a registry head and anchors.

    Training: anchors with IoU >= ``fg_iou_thresh`` to a GT (and each GT's best anchors)
    are positives, < ``bg_iou_thresh`` negatives; ``batch_size_per_image`` of them are
    sampled (``positive_fraction`` positives at most) for a binary cross-entropy objectness
    loss and a smooth-L1 box loss, both divided by the number sampled.
    Proposals: per level the ``pre_nms_top_n`` best anchors, decoded, clipped, small and
    low-score boxes removed, NMS per level, the ``post_nms_top_n`` best kept.
    """

    def __init__(
        self,
        in_channels: int = 256,
        head: dict | None = None,
        anchor_generator: dict | None = None,
        fg_iou_thresh: float = 0.7,
        bg_iou_thresh: float = 0.3,
        batch_size_per_image: int = 256,
        positive_fraction: float = 0.5,
        pre_nms_top_n_train: int = 2000,
        pre_nms_top_n_test: int = 1000,
        post_nms_top_n_train: int = 2000,
        post_nms_top_n_test: int = 1000,
        nms_thresh: float = 0.7,
        score_thresh: float = 0.0,
        min_size: float = 1e-3,
        smooth_l1_beta: float = 1.0 / 9,
    ) -> None:
        super().__init__()
        self.anchor_generator = MODELS.build(anchor_generator or DEFAULT_ANCHORS)
        num_anchors = self.anchor_generator.num_anchors_per_location
        if len(set(num_anchors)) != 1:
            raise ValueError(f"RPN needs the same number of anchors per level, got {num_anchors}")
        self.head = MODELS.build(
            head or {"type": "RPNHead"}, in_channels=in_channels, num_anchors=num_anchors[0]
        )
        self.num_anchors = num_anchors[0]
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.sampler = BalancedSampler(batch_size_per_image, positive_fraction)
        self.pre_nms_top_n = {True: pre_nms_top_n_train, False: pre_nms_top_n_test}
        self.post_nms_top_n = {True: post_nms_top_n_train, False: post_nms_top_n_test}
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_size = min_size
        self.smooth_l1_beta = smooth_l1_beta

    def forward(
        self,
        features: list[Tensor],
        padded_size: tuple[int, int],
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Any]] | None = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        """Proposals per image [P_i, 4], and the losses when ``targets`` are given."""
        objectness, deltas = self.head(features)  # [N, sum HWA], [N, sum HWA, 4]
        sizes = [tuple(f.shape[-2:]) for f in features]
        anchors = self.anchor_generator(padded_size, sizes, deltas.dtype, deltas.device)
        per_level = [h * w * self.num_anchors for h, w in sizes]
        proposals = select_proposals(
            objectness,
            deltas,
            anchors,
            per_level,
            image_sizes,
            self.box_coder,
            self.pre_nms_top_n[self.training],
            self.post_nms_top_n[self.training],
            self.nms_thresh,
            self.score_thresh,
            self.min_size,
        )
        losses = {} if targets is None else self.loss(objectness, deltas, anchors, targets)
        return proposals, losses

    def loss(
        self, objectness: Tensor, deltas: Tensor, anchors: Tensor, targets: list[dict[str, Any]]
    ) -> dict[str, Tensor]:
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
        num_sampled = img.numel()

        gt_boxes = torch.cat(
            [t["boxes"][matched[i][pos_anchor[pos_img == i]]] for i, t in enumerate(targets)]
        )
        box_targets = self.box_coder.encode_single(gt_boxes, anchors[pos_anchor])
        box_loss = F.smooth_l1_loss(
            deltas[pos_img, pos_anchor], box_targets, beta=self.smooth_l1_beta, reduction="sum"
        )
        obj_targets = torch.stack(labels)[img, anchor]
        cls_loss = F.binary_cross_entropy_with_logits(objectness[img, anchor], obj_targets)
        return {"loss_rpn_cls": cls_loss, "loss_rpn_bbox": box_loss / max(1, num_sampled)}
