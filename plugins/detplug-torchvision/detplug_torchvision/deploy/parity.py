"""Compare two sets of detections of one image: matched one to one, then the differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_MASK_IOU = 0.99  # the lowest mask IoU of a matched detection that counts as the same


@dataclass
class Parity:
    """``box_diff``: largest coordinate difference over the image's longer side;
    ``score_diff``: largest score difference; ``unmatched``: detections of either side
    without a partner, apart from those excused (scores within ``margin`` of the threshold,
    or tied with another score: their presence or order is rounding, not a difference).

    ``mask_iou``: for a mask model, the lowest IoU of the binary masks of a matched pair
    (1.0 when nothing matched); ``None`` when neither side has masks (or they were not
    compared). ``masks_missing``: one side has masks and the other has none. ``pairs``:
    the matched detections, (index in ref, index in other).
    """

    matched: int
    unmatched: int
    box_diff: float
    score_diff: float
    mask_iou: float | None = None
    masks_missing: bool = False
    pairs: list[tuple[int, int]] = field(default_factory=list, repr=False)

    def ok(self, tol: float = 1e-4, min_mask_iou: float = MIN_MASK_IOU) -> bool:
        boxes_ok = self.unmatched == 0 and self.box_diff <= tol and self.score_diff <= tol
        masks_ok = not self.masks_missing and (
            self.mask_iou is None or self.mask_iou >= min_mask_iou
        )
        return boxes_ok and masks_ok


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def _excused(scores: np.ndarray, index: int, threshold: float, margin: float) -> bool:
    score = scores[index]
    near_threshold = abs(score - threshold) <= margin
    tied = np.sum(np.abs(scores - score) <= margin) > 1
    return bool(near_threshold or tied)


def mask_ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each pair of binary masks ``a[i]``, ``b[i]`` ([P, H, W], nonzero = inside):
    [P], 1.0 where both are empty (they agree)."""
    a = np.asarray(a).reshape(len(a), -1) != 0
    b = np.asarray(b).reshape(len(b), -1) != 0
    inter = (a & b).sum(axis=1)
    union = (a | b).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def compare(
    ref: Sequence[np.ndarray],
    other: Sequence[np.ndarray],
    image_size: tuple[int, int],
    score_threshold: float = 0.0,
    margin: float = 1e-4,
    min_iou: float = 0.5,
) -> Parity:
    """``ref``/``other``: (boxes [K, 4], scores [K], labels [K]) as numpy arrays (further
    items, a mask model's masks, are not looked at). Each ref
    detection, best first, takes the unmatched same-label detection of ``other`` with IoU
    at least ``min_iou`` (zero-area boxes: coordinates within 1e-3 of the image size) and
    the closest coordinates and score. Masks are compared by the caller on ``pairs``
    (:func:`detplug_torchvision.deploy.check.compare_to_eager`)."""
    rb, rs, rl = (np.asarray(x, dtype=np.float64) for x in ref[:3])
    ob, os_, ol = (np.asarray(x, dtype=np.float64) for x in other[:3])
    used = np.zeros(len(os_), dtype=bool)
    box_diff = score_diff = 0.0
    matched = unmatched = 0
    pairs: list[tuple[int, int]] = []
    scale = float(max(image_size))
    for i in np.argsort(-rs, kind="stable"):
        candidates = np.where((~used) & (ol == rl[i]))[0]
        best = -1
        if len(candidates):
            # IoU, or (for zero-area boxes, which have none) coordinates that nearly agree.
            dist = np.abs(ob[candidates] - rb[i]).max(axis=1)
            good = (_iou(rb[i], ob[candidates]) >= min_iou) | (dist <= 1e-3 * scale)
            if good.any():
                cost = dist[good] / scale + np.abs(os_[candidates[good]] - rs[i])
                best = int(candidates[good][np.argmin(cost)])
        if best < 0:
            unmatched += not _excused(rs, i, score_threshold, margin)
            continue
        used[best] = True
        matched += 1
        pairs.append((int(i), best))
        box_diff = max(box_diff, float(np.abs(rb[i] - ob[best]).max()) / scale)
        score_diff = max(score_diff, float(abs(rs[i] - os_[best])))
    for j in np.where(~used)[0]:
        unmatched += not _excused(os_, j, score_threshold, margin)
    return Parity(matched, unmatched, box_diff, score_diff, pairs=pairs)
