"""``CocoMetric``: COCO box AP/AR with pycocotools' COCOeval numbers (computed on arrays by
default, or by COCOeval itself), for any detplug dataset.

Ground truth is converted to the COCO API in memory (see ``coco_convert``), so VOC or
synthetic datasets are evaluated the same way as COCO itself. See docs/metrics.md.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detplug_coco.coco_convert import Boxes, detection_boxes, detection_results, gt_boxes
from detplug_coco.coco_eval_backend import BoxEvaluation, check_backend, run_cocoeval
from detplug_coco.registries import METRICS

# Order of COCOeval.stats for iouType "bbox"; the AR{m} names follow ``max_dets``.
_AP_KEYS = ("mAP", "AP50", "AP75", "APs", "APm", "APl")
_AR_AREA_KEYS = ("ARs", "ARm", "ARl")


@METRICS.register()
class CocoMetric:
    """COCO box metrics (AP@[.5:.95], AP50, AP75, AP/AR by area, AR@max_dets) and per-class AP.

    Args:
        classes: class names; label ``i`` is ``classes[i]`` (passed by the runner).
        iou_type: only ``"bbox"`` (detplug targets carry no masks or keypoints).
        max_dets: COCOeval's three detections-per-image limits. The last must be 100:
            ``COCOeval.summarize`` reads mAP at ``maxDets=100`` whatever the params say.
        outfile_prefix: if set, ``compute()`` writes ``<prefix>.bbox.json`` in the standard
            COCO results format.
        classwise: compute per-class rows (``per_class()``) and add their table to
            ``summary``; when False ``per_class()`` returns ``[]``.
        label_to_cat_id: COCO category id of each label (e.g. the real COCO ids, from
            ``CocoDataset``); default ``label + 1``.
        backend: which COCOeval computes the numbers: ``vectorized`` (detplug's array
            implementation, the default) or ``pycocotools`` (the reference); both give the
            same numbers to the last bit (``coco_eval_backend``).
    """

    prefix = "coco"

    def __init__(
        self,
        classes: Sequence[str],
        iou_type: str = "bbox",
        max_dets: Sequence[int] = (1, 10, 100),
        outfile_prefix: str | None = None,
        classwise: bool = True,
        label_to_cat_id: Sequence[int] | Mapping[int, int] | None = None,
        backend: str = "vectorized",
    ) -> None:
        if iou_type != "bbox":
            raise ValueError(f"CocoMetric: iou_type {iou_type!r} is not supported; use 'bbox'")
        max_dets = [int(m) for m in max_dets]
        if len(max_dets) != 3 or max_dets != sorted(set(max_dets)) or max_dets[2] != 100:
            raise ValueError(
                f"CocoMetric: max_dets must be three increasing ints ending in 100, got "
                f"{max_dets} (pycocotools' summarize() reads mAP at maxDets=100)"
            )
        self.backend = check_backend(backend)
        self.classes = list(classes)
        self.iou_type = iou_type
        self.max_dets = max_dets
        self.outfile_prefix = outfile_prefix
        self.classwise = classwise
        self.cat_ids = self._cat_ids(label_to_cat_id)
        self.summary = ""  # COCOeval's printed table (+ per-class table), for logging
        self.reset()

    def _cat_ids(self, mapping: Sequence[int] | Mapping[int, int] | None) -> list[int]:
        n = len(self.classes)
        if mapping is None:
            return list(range(1, n + 1))
        if isinstance(mapping, Mapping):
            missing = [i for i in range(n) if i not in mapping]
            if missing:
                raise ValueError(f"CocoMetric: label_to_cat_id has no entry for labels {missing}")
            ids = [int(mapping[i]) for i in range(n)]
        else:
            ids = [int(c) for c in mapping]
        if len(ids) != n or len(set(ids)) != n:
            raise ValueError(
                f"CocoMetric: label_to_cat_id must give {n} distinct category ids "
                f"(one per class), got {ids}"
            )
        return ids

    def reset(self) -> None:
        """Forget everything seen since the last reset."""
        self._images: list[dict] = []
        self._image_ids: set[int] = set()
        self._gt: list[Boxes] = []  # per image
        self._dt: list[Boxes] = []
        self._per_class: list[dict] | None = None

    def update(self, predictions: Sequence[Mapping], targets: Sequence[Mapping]) -> None:
        """Add one batch: ``predictions[i]`` are the detections for ``targets[i]``."""
        if len(predictions) != len(targets):
            raise ValueError(
                f"CocoMetric.update: {len(predictions)} predictions for {len(targets)} targets"
            )
        for pred, target in zip(predictions, targets, strict=True):
            if "image_id" not in target:
                raise KeyError("CocoMetric.update: a target has no 'image_id'")
            image_id = int(target["image_id"])
            where = f"CocoMetric.update(image_id={image_id})"
            if image_id in self._image_ids:
                raise ValueError(
                    f"{where}: image_id seen twice since reset(); image ids must be unique "
                    f"across the evaluated dataset (COCOeval would merge the two images)"
                )
            image: dict[str, Any] = {"id": image_id}
            if target.get("orig_size") is not None:
                height, width = (int(v) for v in target["orig_size"])
                image.update(height=height, width=width)
            gt = gt_boxes(target, image_id, self.cat_ids, where)
            dt = detection_boxes(pred, image_id, self.cat_ids, where)
            self._image_ids.add(image_id)
            self._images.append(image)
            self._gt.append(gt)
            self._dt.append(dt)

    def compute(self) -> dict[str, float]:
        """Run COCOeval on everything seen; values are COCOeval's ``stats`` (-1 = undefined)."""
        keys = [*_AP_KEYS, *(f"AR{m}" for m in self.max_dets), *_AR_AREA_KEYS]
        if self.outfile_prefix is not None:
            self._write_results()
        if not self._images:
            self.summary = "CocoMetric: no images were evaluated"
            undefined = {"num_gt": 0, "AP": -1.0, "AP50": -1.0, "AP75": -1.0}
            self._per_class = [{"class": c, **undefined} for c in self.classes]
            return dict.fromkeys(keys, -1.0)
        self._gt = [Boxes.concat(self._gt, bool)]  # one array each from here on
        self._dt = [Boxes.concat(self._dt, np.float64)]
        categories = [
            {"id": cid, "name": name} for cid, name in zip(self.cat_ids, self.classes, strict=True)
        ]
        evaluation = run_cocoeval(
            self._images, categories, self._gt[0], self._dt[0], self.max_dets, self.backend
        )
        self._per_class = self._class_rows(evaluation) if self.classwise else []
        self.summary = evaluation.table + ("\n" + self._class_table() if self._per_class else "")
        return {k: float(v) for k, v in zip(keys, evaluation.stats, strict=True)}

    def per_class(self) -> list[dict]:
        """Rows ``{class, num_gt, AP, AP50, AP75}`` from the last ``compute()``."""
        if self._per_class is None:
            raise RuntimeError("CocoMetric.per_class() needs compute() first")
        return self._per_class if self.classwise else []

    def _class_rows(self, evaluation: BoxEvaluation) -> list[dict]:
        # precision: [T iou, R recall, K class, A area, M maxDets]; area 0 is "all", maxDets
        # -1 is 100. A class without non-crowd GT is all -1 there, and is reported as -1.
        precision = evaluation.precision[:, :, :, 0, -1]
        iou_thrs = evaluation.iou_thrs
        k_of = {cid: k for k, cid in enumerate(evaluation.cat_ids)}
        gt = self._gt[0]
        num_gt = Counter(gt.cat_ids[~gt.extra].tolist())
        rows = []
        for name, cid in zip(self.classes, self.cat_ids, strict=True):
            prec = precision[:, :, k_of[cid]]
            rows.append(
                {
                    "class": name,
                    "num_gt": num_gt[cid],
                    "AP": _mean_defined(prec),
                    "AP50": _mean_defined(prec[np.isclose(iou_thrs, 0.5)]),
                    "AP75": _mean_defined(prec[np.isclose(iou_thrs, 0.75)]),
                }
            )
        return rows

    def _class_table(self) -> str:
        lines = [f"{'class':<20} {'num_gt':>7} {'AP':>6} {'AP50':>6} {'AP75':>6}"]
        for r in self._per_class or []:
            lines.append(
                f"{r['class'][:20]:<20} {r['num_gt']:>7d} {r['AP']:>6.3f} "
                f"{r['AP50']:>6.3f} {r['AP75']:>6.3f}"
            )
        return "\n".join(lines)

    def _write_results(self) -> None:
        path = Path(f"{self.outfile_prefix}.bbox.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(detection_results(Boxes.concat(self._dt, np.float64))))


def _mean_defined(values: np.ndarray) -> float:
    """Mean over entries > -1, as COCOeval.summarize does; -1.0 when none is defined."""
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0
