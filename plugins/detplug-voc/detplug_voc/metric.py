"""``VOCMetric``: the Pascal VOC detection protocol (07 11-point and 2010+ area AP).

The protocol itself (matching, both AP variants) is in ``voc_eval``; see docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detplug_voc.registries import METRICS
from detplug_voc.voc_eval import ClassResult, evaluate

AP_METHODS = ("area", "11points")


def _as_numpy(value: Any, dtype: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu()
        if value.is_floating_point():  # bf16 (amp) has no numpy dtype; f32 -> f64 is exact
            value = value.double()
        value = value.numpy()
    return np.asarray(value, dtype=dtype)


def _boxes(value: Any, where: str) -> np.ndarray:
    arr = _as_numpy(value, np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}: boxes must have shape [K, 4] (xyxy), got {arr.shape}")
    return arr


def _column(item: Mapping, key: str, n: int, dtype: Any, where: str) -> np.ndarray:
    arr = _as_numpy(item[key], dtype).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{where}: '{key}' has {arr.shape[0]} entries for {n} boxes")
    return arr


@METRICS.register()
class VOCMetric:
    """Pascal VOC AP per class and its mean over the classes that have ground truth.

    Args:
        classes: class names; label ``i`` is ``classes[i]`` (passed by the runner).
        iou_thr: a detection matches a GT at IoU >= this (VOC: 0.5).
        ap_method: which AP ``mAP`` reports: ``"area"`` (VOC2010+, area under the
            precision envelope) or ``"11points"`` (VOC2007). Both are always computed.
        legacy_pixel_offset: IoU with the devkit's +1 pixel convention (a box covers
            ``x2 - x1 + 1`` pixels). Default False: continuous coordinates.
    """

    prefix = "voc"

    def __init__(
        self,
        classes: Sequence[str],
        iou_thr: float = 0.5,
        ap_method: str = "area",
        legacy_pixel_offset: bool = False,
    ) -> None:
        if ap_method not in AP_METHODS:
            raise ValueError(f"VOCMetric: ap_method must be one of {AP_METHODS}, got {ap_method!r}")
        if not 0.0 < iou_thr <= 1.0:
            raise ValueError(f"VOCMetric: iou_thr must be in (0, 1], got {iou_thr}")
        self.classes = list(classes)
        self.iou_thr = float(iou_thr)
        self.ap_method = ap_method
        self.legacy_pixel_offset = legacy_pixel_offset
        self.summary = ""  # per-class table of the last compute(), for logging
        self.reset()

    def reset(self) -> None:
        """Forget everything seen since the last reset."""
        # One entry per image: (det boxes, det scores, det labels, gt boxes, gt labels, ignore)
        self._images: list[tuple[np.ndarray, ...]] = []
        self._results: list[ClassResult] | None = None

    def prepare(
        self, predictions: Sequence[Mapping], targets: Sequence[Mapping]
    ) -> tuple[list[dict], list[dict]]:
        """One batch as this box metric keeps it (the evaluator calls this per batch, on the
        rank that predicted it): a mask model's masks (``masks``, ``box_masks``) are left
        out, so an evaluation under DDP never holds image-sized masks until the gather.
        The inputs are unchanged."""
        dense = ("masks", "box_masks")
        return (
            [{k: v for k, v in p.items() if k not in dense} for p in predictions],
            [{k: v for k, v in t.items() if k not in dense} for t in targets],
        )

    def update(self, predictions: Sequence[Mapping], targets: Sequence[Mapping]) -> None:
        """Add one batch: ``predictions[i]`` are the detections for ``targets[i]``."""
        if len(predictions) != len(targets):
            raise ValueError(
                f"VOCMetric.update: {len(predictions)} predictions for {len(targets)} targets"
            )
        for pred, target in zip(predictions, targets, strict=True):
            where = f"VOCMetric.update(image_id={target.get('image_id', '?')})"
            det_boxes = _boxes(pred["boxes"], where)
            k = len(det_boxes)
            scores = _column(pred, "scores", k, np.float64, where)
            det_labels = _column(pred, "labels", k, np.int64, where)
            gt_boxes = _boxes(target["boxes"], where)
            n = len(gt_boxes)
            gt_labels = _column(target, "labels", n, np.int64, where)
            ignore = np.zeros(n, dtype=bool)
            if target.get("ignore") is not None:
                ignore = _column(target, "ignore", n, bool, where)
            for labels in (det_labels, gt_labels):
                bad = (labels < 0) | (labels >= len(self.classes))
                if bad.any():
                    raise ValueError(
                        f"{where}: label {int(labels[bad][0])} is outside "
                        f"0..{len(self.classes) - 1} ({len(self.classes)} classes)"
                    )
            self._images.append((det_boxes, scores, det_labels, gt_boxes, gt_labels, ignore))

    def compute(self) -> dict[str, float]:
        """``mAP`` (per ``ap_method``), ``mAP_area`` and ``mAP_11pt``; means over the classes
        with at least one non-difficult GT, nan when there is none."""
        offset = 1.0 if self.legacy_pixel_offset else 0.0
        self._results = evaluate(self._images, len(self.classes), self.iou_thr, offset)
        with_gt = [r for r in self._results if r.num_gt > 0]
        m_area = float(np.mean([r.ap_area for r in with_gt])) if with_gt else math.nan
        m_11pt = float(np.mean([r.ap_11point for r in with_gt])) if with_gt else math.nan
        self.summary = self._table()
        return {
            "mAP": m_area if self.ap_method == "area" else m_11pt,
            "mAP_area": m_area,
            "mAP_11pt": m_11pt,
        }

    def per_class(self) -> list[dict]:
        """Rows ``{class, num_gt, num_det, recall, AP, AP_area, AP_11pt}`` of the last
        ``compute()``; ``AP`` follows ``ap_method``; nan for a class without GT."""
        if self._results is None:
            raise RuntimeError("VOCMetric.per_class() needs compute() first")
        rows = []
        for name, r in zip(self.classes, self._results, strict=True):
            rows.append(
                {
                    "class": name,
                    "num_gt": r.num_gt,
                    "num_det": r.num_det,
                    "recall": r.recall,
                    "AP": r.ap_area if self.ap_method == "area" else r.ap_11point,
                    "AP_area": r.ap_area,
                    "AP_11pt": r.ap_11point,
                }
            )
        return rows

    def _table(self) -> str:
        lines = [f"{'class':<20} {'num_gt':>7} {'num_det':>8} {'recall':>7} {'AP':>6}"]
        for row in self.per_class():
            lines.append(
                f"{row['class'][:20]:<20} {row['num_gt']:>7d} {row['num_det']:>8d} "
                f"{row['recall']:>7.3f} {row['AP']:>6.3f}"
            )
        return "\n".join(lines)
