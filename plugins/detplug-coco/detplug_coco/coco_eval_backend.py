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
)
from detplug_coco.coco_fast_eval import BoxEvaluation, evaluate_boxes

__all__ = ["BACKENDS", "BoxEvaluation", "check_backend", "run_cocoeval"]

BACKENDS = ("vectorized", "pycocotools")


def check_backend(backend: str) -> str:
    """``backend`` if it names one; else a ValueError listing them."""
    if backend not in BACKENDS:
        raise ValueError(f"CocoMetric: backend must be one of {list(BACKENDS)}, got {backend!r}")
    return backend


def _pycocotools(dataset: dict, results: list[dict], max_dets: Sequence[int]) -> BoxEvaluation:
    coco_gt = coco_from_dict(dataset)
    coco_dt = coco_results(coco_gt, results)
    coco_eval = COCOeval(coco_gt, coco_dt, "bbox")
    coco_eval.params.maxDets = list(max_dets)
    with captured_stdout() as out:
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    table = "\n".join(line for line in out.getvalue().splitlines() if "Average" in line)
    return BoxEvaluation(
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
) -> BoxEvaluation:
    """COCOeval (bbox) of ``backend`` over the ``images`` and ``categories`` (COCO entries),
    the ground truth ``gt`` (``extra``: crowd) and the detections ``dt`` (``extra``: score)."""
    if check_backend(backend) == "pycocotools":
        dataset = {"images": images, "annotations": gt_annotations(gt), "categories": categories}
        return _pycocotools(dataset, detection_results(dt), max_dets)
    return evaluate_boxes(
        [im["id"] for im in images],
        [c["id"] for c in categories],
        {
            "image_id": gt.image_ids,
            "category_id": gt.cat_ids,
            "bbox": gt.xywh,
            "area": gt.xywh[:, 2] * gt.xywh[:, 3],
            "iscrowd": gt.extra,
        },
        {"image_id": dt.image_ids, "category_id": dt.cat_ids, "bbox": dt.xywh, "score": dt.extra},
        max_dets,
    )
