"""Which COCOeval computes CocoMetric's numbers: detplug's array implementation
(``coco_fast_eval``, the default) or pycocotools' ``COCOeval`` (the reference).

Both give the same numbers to the last bit (the tests compare every stat and the whole
precision and recall arrays on random detections, crowd regions, empty images and more than
100 detections per image); ``backend: pycocotools`` runs the reference itself.
faster-coco-eval was considered and left out: its C++ accumulation drops pycocotools'
``eps`` in ``tp / (fp + tp + eps)``, so some precision values and stats differ in the last
bit (e.g. 0.16132013201320133 against 0.1613201320132013).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pycocotools.cocoeval import COCOeval

from detplug_coco.coco_convert import (
    Boxes,
    captured_stdout,
    coco_from_dict,
    coco_results,
    detection_results,
    gt_annotations,
    mask_areas,
)
from detplug_coco.coco_fast_eval import IOU_TYPES, CocoEvaluation, evaluate

__all__ = ["BACKENDS", "IOU_TYPES", "CocoEvaluation", "check_backend", "run_cocoeval"]

BACKENDS = ("vectorized", "pycocotools")


def check_backend(backend: str) -> str:
    """``backend`` if it names one; else a ValueError listing them."""
    if backend not in BACKENDS:
        raise ValueError(f"CocoMetric: backend must be one of {list(BACKENDS)}, got {backend!r}")
    return backend


def _pycocotools(
    dataset: dict, results: list[dict], max_dets: Sequence[int], iou_type: str = "bbox"
) -> CocoEvaluation:
    coco_gt = coco_from_dict(dataset)
    coco_dt = coco_results(coco_gt, results)
    coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
    coco_eval.params.maxDets = list(max_dets)
    with captured_stdout() as out:
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    table = "\n".join(line for line in out.getvalue().splitlines() if "Average" in line)
    return CocoEvaluation(
        stats=np.asarray(coco_eval.stats),
        precision=coco_eval.eval["precision"],
        recall=coco_eval.eval["recall"],
        iou_thrs=np.asarray(coco_eval.params.iouThrs),
        cat_ids=[int(c) for c in coco_eval.params.catIds],
        table=table,
    )


def run_cocoeval(
    images: list[dict],
    categories: list[dict],
    gt: Boxes,
    dt: Boxes,
    max_dets: Sequence[int],
    backend: str,
    masks: tuple[list[dict], list[dict]] | None = None,
) -> CocoEvaluation:
    """COCOeval of ``backend`` over the ``images`` and ``categories`` (COCO entries), the
    ground truth ``gt`` (``extra``: crowd) and the detections ``dt`` (``extra``: score):
    of their boxes (iouType "bbox"), or, when ``masks`` gives the RLE of every ground truth
    and detection (in ``gt`` and ``dt`` order), of their masks (iouType "segm"; areas are
    mask areas)."""
    iou_type = "bbox" if masks is None else "segm"
    gt_segs, dt_segs = masks if masks is not None else (None, None)
    if check_backend(backend) == "pycocotools":
        dataset = {
            "images": images,
            "annotations": gt_annotations(gt, gt_segs),
            "categories": categories,
        }
        return _pycocotools(dataset, detection_results(dt, dt_segs), max_dets, iou_type)
    gt_columns = {"image_id": gt.image_ids, "category_id": gt.cat_ids, "iscrowd": gt.extra}
    dt_columns = {"image_id": dt.image_ids, "category_id": dt.cat_ids, "score": dt.extra}
    if gt_segs is None:
        gt_columns.update(bbox=gt.xywh, area=gt.xywh[:, 2] * gt.xywh[:, 3])
        dt_columns.update(bbox=dt.xywh)
    else:
        gt_columns.update(segmentation=gt_segs, area=mask_areas(gt_segs))
        dt_columns.update(segmentation=dt_segs)
    return evaluate(
        [im["id"] for im in images],
        [c["id"] for c in categories],
        gt_columns,
        dt_columns,
        max_dets,
        iou_type,
    )
