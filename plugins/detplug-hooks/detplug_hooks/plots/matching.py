"""Detections matched to ground truth once per image, for the precision-recall curves and
the confusion matrix (no plotting here).

Per image one IoU matrix [detections, ground truth] is computed; from it:

* PR data, per class: every detection of the class (any score), in descending score order,
  goes to the box of its class it overlaps most; it is a true positive when that overlap is
  at least ``iou_thr`` and the box is not yet taken, else a false positive (the Pascal VOC
  rule, so the curves' AP is detplug-voc's ``VOCMetric`` AP with ``ap_method: area``);
* the confusion matrix: detections scoring at least ``score_thr`` are paired with ground-truth
  boxes of any class, pairs of highest IoU first (IoU >= ``iou_thr``, each box used once).
  Rows are the true class, columns the predicted class; the last row and column are
  ``background``: a detection paired with nothing counts in (background, its class), a
  ground-truth box nobody found in (its class, background).

Ground-truth boxes flagged ``ignore`` (VOC "difficult", COCO crowd) are not counted; a
detection whose best box is an ignored one counts neither way (PR), and one that overlaps
an ignored box by ``iou_thr`` without a pair is no false positive (confusion matrix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class MatchAccumulator:
    """Collects per-class PR data and the confusion matrix over many images."""

    num_classes: int
    iou_thr: float = 0.5
    score_thr: float = 0.25
    confusion: np.ndarray = field(init=False)
    scores: list[list[float]] = field(init=False)
    true_positive: list[list[bool]] = field(init=False)
    num_gt: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        c = self.num_classes
        self.confusion = np.zeros((c + 1, c + 1), dtype=np.int64)
        self.scores = [[] for _ in range(c)]
        self.true_positive = [[] for _ in range(c)]
        self.num_gt = np.zeros(c, dtype=np.int64)

    def add(self, pred: Mapping, target: Mapping) -> None:
        """One image: ``pred`` {boxes [N,4], scores [N], labels [N]} and ``target``
        {boxes [M,4], labels [M], optional ignore [M]}, boxes xyxy in the same pixels."""
        boxes = torch.as_tensor(pred["boxes"], dtype=torch.float32).reshape(-1, 4)
        scores = torch.as_tensor(pred["scores"], dtype=torch.float32).reshape(-1)
        labels = torch.as_tensor(pred["labels"], dtype=torch.int64).reshape(-1)
        gt_boxes = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
        gt_labels = torch.as_tensor(target["labels"], dtype=torch.int64).reshape(-1)
        ignore = target.get("ignore")
        ignored = (
            torch.as_tensor(ignore, dtype=torch.bool).reshape(-1)
            if ignore is not None
            else torch.zeros(len(gt_labels), dtype=torch.bool)
        )
        self._check(labels, gt_labels)
        order = torch.argsort(scores, descending=True, stable=True)
        boxes, scores, labels = boxes[order], scores[order], labels[order]
        iou = box_iou(boxes, gt_boxes)  # [N, M], computed once for both products
        self.num_gt += np.bincount(gt_labels[~ignored].numpy(), minlength=self.num_classes)
        self._add_pr(iou, scores, labels, gt_labels, ignored)
        near_ignored = (iou[:, ignored] >= self.iou_thr).any(dim=1)
        sure = ~ignored
        self._add_confusion(iou[:, sure], scores, labels, gt_labels[sure], near_ignored)

    def _check(self, labels: torch.Tensor, gt_labels: torch.Tensor) -> None:
        for what, values in (("prediction", labels), ("ground-truth", gt_labels)):
            if values.numel() and not (
                0 <= int(values.min()) and int(values.max()) < self.num_classes
            ):
                raise ValueError(
                    f"{what} labels must be in 0..{self.num_classes - 1}, got {values.tolist()}"
                )

    def _add_pr(self, iou, scores, labels, gt_labels, ignored) -> None:
        # The VOC rule: each detection goes to its best-overlapping box of its class; a hit
        # on an ignored box counts neither way, a second hit on a box is a false positive.
        taken = torch.zeros(len(gt_labels), dtype=torch.bool)
        for i in range(len(scores)):  # descending score
            c = int(labels[i])
            same = gt_labels == c
            best = iou[i].masked_fill(~same, -1.0)
            j = int(best.argmax()) if best.numel() else -1
            hit = j >= 0 and float(best[j]) >= self.iou_thr
            if hit and bool(ignored[j]):
                continue
            tp = hit and not bool(taken[j])
            if tp:
                taken[j] = True
            self.scores[c].append(float(scores[i]))
            self.true_positive[c].append(tp)

    def _add_confusion(self, iou, scores, labels, gt_labels, near_ignored) -> None:
        bg = self.num_classes
        sure = scores >= self.score_thr
        det_idx = torch.nonzero(sure).flatten()
        pairs = iou[det_idx] if len(det_idx) else iou[:0]
        used_det = torch.zeros(len(det_idx), dtype=torch.bool)
        used_gt = torch.zeros(len(gt_labels), dtype=torch.bool)
        if pairs.numel():
            d, g = torch.nonzero(pairs >= self.iou_thr, as_tuple=True)
            for k in torch.argsort(pairs[d, g], descending=True, stable=True).tolist():
                a, b = int(d[k]), int(g[k])
                if not (used_det[a] or used_gt[b]):
                    used_det[a] = used_gt[b] = True
                    self.confusion[int(gt_labels[b]), int(labels[det_idx[a]])] += 1
        for a in range(len(det_idx)):
            if not used_det[a] and not bool(near_ignored[det_idx[a]]):
                self.confusion[bg, int(labels[det_idx[a]])] += 1
        for b in range(len(gt_labels)):
            if not used_gt[b]:
                self.confusion[int(gt_labels[b]), bg] += 1

    def pr_curve(self, c: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Class ``c``: (recall, precision) over its detections by descending score, and its
        AP at ``iou_thr`` (area under the interpolated curve; -1 without ground truth)."""
        scores = np.asarray(self.scores[c], dtype=np.float64)
        tp = np.asarray(self.true_positive[c], dtype=bool)[np.argsort(-scores, kind="stable")]
        if self.num_gt[c] == 0:
            return np.zeros(0), np.zeros(0), -1.0
        tps, fps = np.cumsum(tp), np.cumsum(~tp)
        recall = tps / self.num_gt[c]
        precision = tps / np.maximum(tps + fps, 1)
        return recall, precision, average_precision(recall, precision)


def box_iou(boxes: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """IoU of xyxy boxes [N, 4] x [M, 4] -> [N, M] (torchvision.ops.box_iou's formula; this
    distribution does not depend on torchvision)."""
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    area_o = (other[:, 2] - other[:, 0]).clamp(min=0) * (other[:, 3] - other[:, 1]).clamp(min=0)
    top_left = torch.max(boxes[:, None, :2], other[None, :, :2])
    bottom_right = torch.min(boxes[:, None, 2:], other[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    union = area[:, None] + area_o[None, :] - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(inter))


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC 2010+ "area" rule)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def accumulate(
    predictions: Sequence[Mapping], targets: Sequence[Mapping], num_classes: int, **kw: float
) -> MatchAccumulator:
    """A :class:`MatchAccumulator` fed with every (prediction, target) pair."""
    acc = MatchAccumulator(num_classes, **kw)
    for pred, target in zip(predictions, targets, strict=True):
        acc.add(pred, target)
    return acc
