"""The Pascal VOC detection protocol in numpy: IoU, per-class matching, both AP variants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray, pixel_offset: float = 0.0) -> np.ndarray:
    """IoU ``[N,M]`` of xyxy boxes ``a [N,4]`` and ``b [M,4]``.

    ``pixel_offset=1`` is the VOC devkit convention (a box covers ``x2 - x1 + 1`` pixels);
    0 treats coordinates as continuous, as modern implementations do.
    """
    wa = a[:, 2] - a[:, 0] + pixel_offset
    ha = a[:, 3] - a[:, 1] + pixel_offset
    wb = b[:, 2] - b[:, 0] + pixel_offset
    hb = b[:, 3] - b[:, 1] + pixel_offset
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw + pixel_offset, 0, None) * np.clip(ih + pixel_offset, 0, None)
    union = (wa * ha)[:, None] + (wb * hb)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where(union > 0, iou, 0.0)  # degenerate (zero-area) pairs never match


def ap_area(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC2010+): sum over recall steps of the best
    precision at that recall or beyond."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def ap_11point(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007 11-point AP: mean over t in {0, .1, ..., 1} of max precision at recall >= t.

    The thresholds are ``i / 10`` (correctly rounded), so a recall of exactly 3/10 reaches
    t = 0.3; ``np.arange(0, 1.1, 0.1)`` as in the devkit's Python ports gives
    0.30000000000000004 there and misses it.
    """
    total = 0.0
    for t in np.arange(11) / 10.0:
        reached = precision[recall >= t]
        total += float(reached.max()) if reached.size else 0.0
    return total / 11.0


@dataclass
class ClassResult:
    """Evaluation of one class: counts, the final recall and both AP variants."""

    num_gt: int  # non-difficult ground truth
    num_det: int
    recall: float  # at the last detection (nan without GT)
    ap_area: float  # nan without GT
    ap_11point: float  # nan without GT


def evaluate(
    images: Sequence[tuple[np.ndarray, ...]],
    num_classes: int,
    iou_thr: float = 0.5,
    pixel_offset: float = 0.0,
) -> list[ClassResult]:
    """Evaluate every class over ``images``, each ``(det boxes [K,4], det scores [K], det
    labels [K], gt boxes [N,4], gt labels [N], gt difficult [N])``.

    Each detection, in decreasing score order (ties keep input order), is assigned to the GT
    of its image and class with the highest IoU (the first on ties), matched or not, as in
    the devkit. IoU >= ``iou_thr`` with a difficult GT: ignored; with a GT not yet matched:
    TP (the GT becomes matched); with a GT already matched: FP (duplicate). Otherwise: FP.
    """
    scores, labels, best_iou, best_gt, gt_labels, difficult = [], [], [], [], [], []
    gt_offset = 0
    for det_boxes, det_scores, det_labels, gt_boxes, g_labels, g_difficult in images:
        k, n = len(det_scores), len(gt_boxes)
        if k and n:
            iou = box_iou(det_boxes, gt_boxes, pixel_offset)
            iou[det_labels[:, None] != g_labels[None, :]] = -np.inf  # other classes
            j = np.argmax(iou, axis=1)
            best_iou.append(iou[np.arange(k), j])
            best_gt.append(j + gt_offset)
        else:
            best_iou.append(np.full(k, -np.inf))
            best_gt.append(np.full(k, -1, dtype=np.int64))
        scores.append(det_scores)
        labels.append(det_labels)
        gt_labels.append(g_labels)
        difficult.append(g_difficult)
        gt_offset += n
    det = [np.concatenate(x) if x else np.zeros(0) for x in (scores, labels, best_iou, best_gt)]
    gt_label = np.concatenate(gt_labels) if gt_labels else np.zeros(0, dtype=np.int64)
    gt_difficult = np.concatenate(difficult).astype(bool) if difficult else np.zeros(0, bool)
    results = []
    for c in range(num_classes):
        sel = det[1] == c
        num_gt = int(np.count_nonzero((gt_label == c) & ~gt_difficult))
        results.append(
            _class_result(
                det[0][sel],
                det[2][sel],
                det[3][sel].astype(np.int64),
                gt_difficult,
                num_gt,
                iou_thr,
            )
        )
    return results


def _class_result(
    score: np.ndarray,
    hit_iou: np.ndarray,
    hit_gt: np.ndarray,
    gt_difficult: np.ndarray,
    num_gt: int,
    iou_thr: float,
) -> ClassResult:
    """Ranks one class's detections (best IoU and GT index each) into TP/FP and both APs."""
    order = np.argsort(-score, kind="stable")
    hit_iou, hit_gt = hit_iou[order], hit_gt[order]
    hit = hit_iou >= iou_thr
    ignored = np.zeros_like(hit)
    ignored[hit] = gt_difficult[hit_gt[hit]]
    candidate = hit & ~ignored
    # The first candidate (in score order) for each GT is the TP; later ones are duplicates.
    tp = np.zeros(len(order), dtype=bool)
    cand_idx = np.flatnonzero(candidate)
    _, first = np.unique(hit_gt[cand_idx], return_index=True)
    tp[cand_idx[first]] = True
    fp = ~tp & ~ignored

    if num_gt == 0:
        nan = float("nan")
        return ClassResult(0, len(order), nan, nan, nan)
    tp_cum = np.cumsum(tp[~ignored])
    fp_cum = np.cumsum(fp[~ignored])
    recall = tp_cum / num_gt
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1)
    return ClassResult(
        num_gt=num_gt,
        num_det=len(order),
        recall=float(recall[-1]) if recall.size else 0.0,
        ap_area=ap_area(recall, precision),
        ap_11point=ap_11point(recall, precision),
    )
