"""RTMDet's dynamic soft-label assignment: SimOTA-style dynamic k with a cost made of a
soft-label classification term, an IoU term and a soft centre prior."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou

from detplug_core.errors import BuildError
from detplug_rtmdet.registries import MODELS

_INF = 1e8
_EPS = 1e-7


@MODELS.register()
class DynamicSoftLabelAssigner:
    """Assign each point to at most one ground-truth box, from the current predictions.

    Candidates are the points inside any box (a box holding no point lends the point
    nearest its centre). The cost of a candidate for a box is

    * ``BCE(logit, iou * onehot) * |iou * onehot - sigmoid(logit)|^2`` summed over classes
      (a soft label: the IoU of the point's predicted box with the ground truth),
    * ``iou_weight * -log(iou)``,
    * ``10 ** (distance / stride - soft_center_radius)``, the distance from the point to
      the box centre (a soft centre prior).

    Each box takes its ``k`` cheapest candidates, ``k`` = the sum of its ``topk`` largest
    IoUs (at least ``min_k``); a point taken by several boxes keeps the cheapest.

    Args:
        topk: candidates whose IoUs give the dynamic k (13 in RTMDet).
        iou_weight: weight of the IoU cost (3).
        soft_center_radius: the centre prior's offset (3: the prior is 1 at 3 strides).
        min_k: the fewest candidates a box takes (RTMDet: 1). At the start of training the
            predicted boxes overlap nothing, every dynamic k is 1 and each box trains a
            single point until its predictions improve; a floor gives a short run more
            positives from the first iteration (the shapes recipe: 6, docs/rtmdet.md).
    """

    def __init__(
        self,
        topk: int = 13,
        iou_weight: float = 3.0,
        soft_center_radius: float = 3.0,
        min_k: int = 1,
    ) -> None:
        if topk < 1:
            raise BuildError(f"DynamicSoftLabelAssigner.topk must be >= 1, got {topk}")
        if min_k < 1:
            raise BuildError(f"DynamicSoftLabelAssigner.min_k must be >= 1, got {min_k}")
        self.topk = int(topk)
        self.iou_weight = float(iou_weight)
        self.soft_center_radius = float(soft_center_radius)
        self.min_k = int(min_k)

    @torch.no_grad()
    def __call__(
        self,
        cls_logits: Tensor,
        pred_boxes: Tensor,
        points: Tensor,
        strides: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """One image: cls_logits [A, C], pred_boxes [A, 4] xyxy, points [A, 2], strides [A],
        gt_boxes [M, 4], gt_labels [M] -> matched box index [A] (-1: background) and the
        IoU of each point's predicted box with its match [A] (0 for background)."""
        num_points = points.shape[0]
        index = torch.full((num_points,), -1, dtype=torch.long, device=points.device)
        quality = points.new_zeros(num_points)
        if gt_boxes.numel() == 0:
            return index, quality
        x, y = points[:, 0:1], points[:, 1:2]  # [A, 1]
        inside = (
            torch.stack(
                (x - gt_boxes[:, 0], y - gt_boxes[:, 1], gt_boxes[:, 2] - x, gt_boxes[:, 3] - y),
                dim=2,
            ).amin(dim=2)
            > 0
        )  # [A, M]
        centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2  # [M, 2]
        # A box smaller than the stride may hold no point: it takes the point nearest its
        # centre, so that every box can be learnt.
        empty = ~inside.any(dim=0)  # [M]
        if empty.any():
            nearest = torch.cdist(centres[empty], points).argmin(dim=1)
            inside[nearest, empty.nonzero().squeeze(1)] = True
        valid = inside.any(dim=1)  # [A]
        cand = valid.nonzero().squeeze(1)  # [V]
        if cand.numel() == 0:
            return index, quality

        logits = cls_logits[cand].float()  # [V, C]
        iou = box_iou(pred_boxes[cand].float(), gt_boxes)  # [V, M]
        iou_cost = -torch.log(iou + _EPS) * self.iou_weight

        distance = (points[cand, None, :] - centres[None]).norm(dim=2) / strides[cand, None]
        center_prior = torch.pow(10.0, distance - self.soft_center_radius)  # [V, M]

        num_gt, num_classes = gt_boxes.shape[0], logits.shape[1]
        onehot = F.one_hot(gt_labels, num_classes).to(logits)  # [M, C]
        soft_label = iou[:, :, None] * onehot[None]  # [V, M, C]
        logits_vm = logits[:, None, :].expand(-1, num_gt, -1)
        scale = (soft_label - logits_vm.sigmoid()).abs().pow(2)
        cls_cost = (
            F.binary_cross_entropy_with_logits(logits_vm, soft_label, reduction="none") * scale
        ).sum(dim=2)  # [V, M]

        # As in RTMDet, a candidate (a point inside some box) may serve any box; the centre
        # prior makes the far ones expensive.
        cost = cls_cost + iou_cost + center_prior

        # Dynamic k per box: the sum of its topk best IoUs among the candidates.
        k_top = min(self.topk, cand.numel())
        dynamic_k = iou.topk(k_top, dim=0).values.sum(dim=0).int().clamp(min=self.min_k)  # [M]
        ranked = cost.topk(min(int(dynamic_k.max()), cand.numel()), dim=0, largest=False)
        take = torch.arange(ranked.indices.shape[0], device=cost.device)[:, None] < dynamic_k
        matched = torch.zeros_like(cost, dtype=torch.bool)
        matched.scatter_(0, ranked.indices, take)  # [V, M]
        # A point taken by several boxes keeps the cheapest.
        cost_taken = torch.where(matched, cost, torch.full_like(cost, _INF))
        best_cost, best_gt = cost_taken.min(dim=1)  # [V]
        positive = best_cost < _INF
        pos = cand[positive]
        index[pos] = best_gt[positive]
        quality[pos] = iou[positive, best_gt[positive]]
        return index, quality
