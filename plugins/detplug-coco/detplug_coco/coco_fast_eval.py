"""COCOeval for boxes and masks on whole arrays: pycocotools' numbers, bit for bit, in a
fraction of its time.

pycocotools' ``COCOeval`` spends its time in Python loops: one ``evaluateImg`` per image,
category and area range (greedy matching, detection by detection, per IoU threshold), then
one concatenation of every image's results per category, area range and detection limit.
This module does the same arithmetic on arrays of all detections at once:

* IoU of every (detection, ground truth) pair of the same image and category, with the
  operations of pycocotools' ``bbIou`` in float64 for boxes, or pycocotools' own
  ``mask.iou`` on the run-length encodings for masks, one call per image and category as
  ``COCOeval.computeIoU`` makes (crowd regions: intersection over the detection's area);
* the greedy matching, rank by rank (the r-th best detection of every image and category
  together): a detection takes, among the ground truths still free (crowd regions always
  are) with IoU >= the threshold, the best IoU, non-ignored ones first, ties to the later
  ground truth in pycocotools' order (ignored ones last, then file order);
* the accumulation per category, area range and detection limit, with pycocotools'
  formulas (``tp / (fp + tp + eps)``, the precision envelope, ``searchsorted`` on the
  recall thresholds, mergesort by score);
* ``summarize`` is pycocotools' own, run on these arrays.

The tests compare every stat and the whole precision and recall arrays with pycocotools on
random detections (boxes and masks), crowd regions, empty images and more than 100
detections per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval, Params

from detplug_coco.coco_convert import captured_stdout, mask_areas

__all__ = ["IOU_TYPES", "CocoEvaluation", "evaluate"]

IOU_TYPES = ("bbox", "segm")


@dataclass
class CocoEvaluation:
    stats: np.ndarray  # COCOeval.stats
    precision: np.ndarray  # [T, R, K, A, M]
    recall: np.ndarray  # [T, K, A, M]
    iou_thrs: np.ndarray
    cat_ids: list[int]  # the K axis
    table: str  # summarize()'s printed lines


def _index(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted unique ``keys``."""
    return np.searchsorted(keys, values)


def _pair_ious(dt_box: np.ndarray, gt_box: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """pycocotools' ``bbIou`` for pairs (xywh float64 [P, 4] each), operation by operation."""
    w = np.minimum(dt_box[:, 2] + dt_box[:, 0], gt_box[:, 2] + gt_box[:, 0]) - np.maximum(
        dt_box[:, 0], gt_box[:, 0]
    )
    h = np.minimum(dt_box[:, 3] + dt_box[:, 1], gt_box[:, 3] + gt_box[:, 1]) - np.maximum(
        dt_box[:, 1], gt_box[:, 1]
    )
    inter = w * h
    dt_area = dt_box[:, 2] * dt_box[:, 3]
    gt_area = gt_box[:, 2] * gt_box[:, 3]
    union = np.where(crowd, dt_area, dt_area + gt_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def _mask_pair_ious(
    dt_segs: list[dict],
    gt_segs: list[dict],
    crowd: np.ndarray,
    d_group: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """pycocotools' ``mask.iou`` of each group's detections (``dt_segs``, sorted by group)
    against its ground truths (``gt_segs[lo:hi]``), flattened in pair order (detection by
    detection, each against its group's ground truths in order)."""
    parts = []
    if not len(d_group):
        return np.zeros(0, np.float64)
    starts = np.flatnonzero(np.r_[True, d_group[1:] != d_group[:-1]]).tolist()
    for start, end in zip(starts, [*starts[1:], len(d_group)], strict=True):
        g_lo, g_hi = int(lo[start]), int(hi[start])
        if g_hi > g_lo:
            ious = mask_utils.iou(
                dt_segs[start:end], gt_segs[g_lo:g_hi], crowd[g_lo:g_hi].astype(int).tolist()
            )
            parts.append(np.asarray(ious, np.float64).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0, np.float64)


@dataclass
class _Gts:
    group: np.ndarray  # image * K + category of each ground truth (sorted by it)
    box: np.ndarray
    area: np.ndarray
    crowd: np.ndarray
    cat: np.ndarray
    segs: list[dict]  # their masks (RLE) for segm, else empty


def evaluate(
    image_ids: Sequence[int],
    cat_ids: Sequence[int],
    gt: dict,
    dt: dict,
    max_dets: Sequence[int] = (1, 10, 100),
    iou_type: str = "bbox",
) -> CocoEvaluation:
    """COCOeval of detections ``dt`` (``image_id``, ``category_id``, ``score``, and
    ``bbox`` xywh [N, 4] or, for ``iou_type="segm"``, ``segmentation``: a list of RLE;
    results order) against ground truth ``gt`` (``image_id``, ``category_id``, ``bbox``
    or ``segmentation``, ``area``, ``iscrowd``; annotation order).

    For masks, a detection's area is its mask's (as ``COCO.loadRes`` sets it for results
    without ``bbox``)."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {list(IOU_TYPES)}, got {iou_type!r}")
    segm = iou_type == "segm"
    params = Params(iouType=iou_type)
    params.maxDets = [int(m) for m in max_dets]
    images = np.unique(np.asarray(image_ids, np.int64))
    cats = np.unique(np.asarray(cat_ids, np.int64))
    num_k, thrs = len(cats), np.asarray(params.iouThrs)
    area_rngs = np.asarray(params.areaRng, np.float64)
    num_t, num_r, num_a, num_m = len(thrs), len(params.recThrs), len(area_rngs), len(max_dets)

    g_img = _index(np.asarray(gt["image_id"], np.int64), images)
    g_cat = _index(np.asarray(gt["category_id"], np.int64), cats)
    order = np.argsort(g_img * num_k + g_cat, kind="stable")  # group, then file order
    gts = _Gts(
        group=(g_img * num_k + g_cat)[order],
        box=np.zeros((len(order), 4)) if segm else _xywh(gt["bbox"])[order],
        area=np.asarray(gt["area"], np.float64)[order],
        crowd=np.asarray(gt["iscrowd"], bool)[order],
        cat=g_cat[order],
        segs=[gt["segmentation"][i] for i in order.tolist()] if segm else [],
    )

    d_img = _index(np.asarray(dt["image_id"], np.int64), images)
    d_cat = _index(np.asarray(dt["category_id"], np.int64), cats)
    d_score = np.asarray(dt["score"], np.float64)
    d_group = d_img * num_k + d_cat
    # per group, by score (mergesort: ties keep results order), at most max_dets[-1]
    order = np.lexsort((np.arange(len(d_score)), -d_score, d_group))
    d_group, d_score, d_img, d_cat = d_group[order], d_score[order], d_img[order], d_cat[order]
    starts = np.searchsorted(d_group, d_group, side="left")
    rank = np.arange(len(d_group)) - starts
    keep = rank < params.maxDets[-1]
    d_group, d_score, d_img, d_cat, rank = (
        d_group[keep],
        d_score[keep],
        d_img[keep],
        d_cat[keep],
        rank[keep],
    )
    source = order[keep]  # each kept detection's position in ``dt``

    # (detection, ground truth) pairs of the same group, with their IoU
    lo = np.searchsorted(gts.group, d_group, side="left")
    hi = np.searchsorted(gts.group, d_group, side="right")
    counts = hi - lo
    pair_dt = np.repeat(np.arange(len(d_group)), counts)
    pair_gt = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    if segm:
        d_segs = [dt["segmentation"][i] for i in source.tolist()]
        d_area = mask_areas(d_segs)
        pair_iou = _mask_pair_ious(d_segs, gts.segs, gts.crowd, d_group, lo, hi)
    else:
        d_box = _xywh(dt["bbox"])[source]
        d_area = d_box[:, 2] * d_box[:, 3]  # loadRes: bb[2] * bb[3]
        pair_iou = _pair_ious(d_box[pair_dt], gts.box[pair_gt], gts.crowd[pair_gt])

    # matched[a, t, d] and ignored[a, t, d] as evaluateImg's dtMatches != 0 and dtIgnore
    matched = np.zeros((num_a, num_t, len(d_group)), bool)
    ignored = np.zeros((num_a, num_t, len(d_group)), bool)
    gt_ignored = np.zeros((num_a, len(gts.group)), bool)
    thresholds = np.minimum(thrs, 1 - 1e-10)[:, None]
    pair_rank = rank[pair_dt]
    by_rank = np.argsort(pair_rank, kind="stable")
    rank_bounds = np.searchsorted(pair_rank[by_rank], np.arange(params.maxDets[-1] + 1))
    for a, (low, high) in enumerate(area_rngs):
        ig = gts.crowd | (gts.area < low) | (gts.area > high)
        gt_ignored[a] = ig
        # pycocotools' gt order within a group: not ignored first, then file order
        position = np.lexsort((np.arange(len(ig)), ig, gts.group))
        place = np.empty(len(ig), np.int64)
        place[position] = np.arange(len(ig))
        taken = np.zeros((num_t, len(ig)), bool)
        for r in range(params.maxDets[-1]):
            pairs = by_rank[rank_bounds[r] : rank_bounds[r + 1]]
            if not len(pairs):
                continue
            p_dt, p_gt, p_iou = pair_dt[pairs], pair_gt[pairs], pair_iou[pairs]
            # best last: by detection, then not ignored, IoU, later place
            sort = np.lexsort((place[p_gt], p_iou, ~ig[p_gt], p_dt))
            p_dt, p_gt, p_iou = p_dt[sort], p_gt[sort], p_iou[sort]
            free = ~(taken[:, p_gt] & ~gts.crowd[p_gt])
            ok = free & (p_iou >= thresholds)  # [T, P]
            cand = np.where(ok, np.arange(len(p_dt)), -1)
            seg = np.flatnonzero(np.r_[True, p_dt[1:] != p_dt[:-1]])
            best = np.maximum.reduceat(cand, seg, axis=1)  # [T, S]
            t_idx, s_idx = np.nonzero(best >= 0)
            chosen = best[t_idx, s_idx]
            taken[t_idx, p_gt[chosen]] = True
            matched[a, t_idx, p_dt[chosen]] = True
            ignored[a, t_idx, p_dt[chosen]] = ig[p_gt[chosen]]
        outside = (d_area < low) | (d_area > high)
        ignored[a] |= ~matched[a] & outside[None, :]

    precision = -np.ones((num_t, num_r, num_k, num_a, num_m))
    recall = -np.ones((num_t, num_k, num_a, num_m))
    rec_thrs = np.asarray(params.recThrs)
    # within a category: images in order, each image's detections by score (its rank)
    cat_order = np.lexsort((rank, d_img, d_cat))
    cat_bounds = np.searchsorted(d_cat[cat_order], np.arange(num_k + 1))
    gt_cat_sorted = np.sort(gts.cat)
    gt_bounds = np.searchsorted(gt_cat_sorted, np.arange(num_k + 1))
    gt_by_cat = np.argsort(gts.cat, kind="stable")
    for k in range(num_k):
        dets = cat_order[cat_bounds[k] : cat_bounds[k + 1]]
        cat_gts = gt_by_cat[gt_bounds[k] : gt_bounds[k + 1]]
        if not len(dets) and not len(cat_gts):
            continue  # no image has anything of this category: -1
        for a in range(num_a):
            npig = int(np.count_nonzero(~gt_ignored[a, cat_gts]))
            if npig == 0:
                continue
            for m, max_det in enumerate(params.maxDets):
                sel = dets[rank[dets] < max_det]
                sel = sel[np.argsort(-d_score[sel], kind="mergesort")]
                dtm, dt_ig = matched[a][:, sel], ignored[a][:, sel]
                tp_sum = np.cumsum(dtm & ~dt_ig, axis=1).astype(float)
                fp_sum = np.cumsum(~dtm & ~dt_ig, axis=1).astype(float)
                nd = len(sel)
                if not nd:
                    recall[:, k, a, m] = 0
                    precision[:, :, k, a, m] = 0
                    continue
                rc = tp_sum / npig
                pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
                recall[:, k, a, m] = rc[:, -1]
                envelope = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                for t in range(num_t):
                    inds = np.searchsorted(rc[t], rec_thrs, side="left")
                    q = np.zeros(num_r)
                    inside = inds < nd
                    q[inside] = envelope[t, inds[inside]]
                    precision[t, :, k, a, m] = q
    return _summarized(params, images, cats, precision, recall)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.asarray(boxes, np.float64).reshape(-1, 4)


def _summarized(
    params: Params, images: np.ndarray, cats: np.ndarray, precision: np.ndarray, recall: np.ndarray
) -> CocoEvaluation:
    """pycocotools' own ``summarize`` over the arrays (the same stats, the same table)."""
    coco_eval = COCOeval(iouType=params.iouType)
    params.imgIds, params.catIds = images.tolist(), cats.tolist()
    coco_eval.params = params
    coco_eval.eval = {"precision": precision, "recall": recall}
    with captured_stdout() as out:
        coco_eval.summarize()
    table = "\n".join(line for line in out.getvalue().splitlines() if "Average" in line)
    return CocoEvaluation(
        stats=np.asarray(coco_eval.stats),
        precision=precision,
        recall=recall,
        iou_thrs=np.asarray(params.iouThrs),
        cat_ids=cats.tolist(),
        table=table,
    )
