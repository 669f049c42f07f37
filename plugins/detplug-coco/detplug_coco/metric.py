"""``CocoMetric``: COCO box and mask AP/AR with pycocotools' COCOeval numbers (computed on
arrays by default, or by COCOeval itself), for any detplug dataset.

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
from detplug_coco.coco_eval_backend import IOU_TYPES, CocoEvaluation, check_backend, run_cocoeval
from detplug_coco.coco_segm import compact_masks, prediction_rles, target_rles
from detplug_coco.registries import METRICS

# Order of COCOeval.stats (the same for "bbox" and "segm"); the AR{m} names follow
# ``max_dets``. Box keys are bare (``mAP``), mask keys carry ``segm_`` (``segm_mAP``).
_AP_KEYS = ("mAP", "AP50", "AP75", "APs", "APm", "APl")
_AR_AREA_KEYS = ("ARs", "ARm", "ARl")
_KEY_PREFIX = {"bbox": "", "segm": "segm_"}


@METRICS.register()
class CocoMetric:
    """COCO box and/or mask metrics (AP@[.5:.95], AP50, AP75, AP/AR by area, AR@max_dets)
    and per-class AP.

    Args:
        classes: class names; label ``i`` is ``classes[i]`` (passed by the runner).
        iou_type: ``"bbox"`` (boxes), ``"segm"`` (instance masks) or a list of both
            (``["bbox", "segm"]``: one pass over the predictions, both evaluations). Box
            keys are ``mAP``, ``AP50``, ...; mask keys ``segm_mAP``, ``segm_AP50``, ...
        max_dets: COCOeval's three detections-per-image limits. The last must be 100:
            ``COCOeval.summarize`` reads mAP at ``maxDets=100`` whatever the params say.
        outfile_prefix: if set, ``compute()`` writes ``<prefix>.bbox.json`` and/or
            ``<prefix>.segm.json`` (RLE ``segmentation``) in the standard COCO results format.
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
        iou_type: str | Sequence[str] = "bbox",
        max_dets: Sequence[int] = (1, 10, 100),
        outfile_prefix: str | None = None,
        classwise: bool = True,
        label_to_cat_id: Sequence[int] | Mapping[int, int] | None = None,
        backend: str = "vectorized",
    ) -> None:
        self.iou_types = _iou_types(iou_type)
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

    @property
    def segm(self) -> bool:
        """Whether masks are evaluated (``iou_type`` includes ``"segm"``)."""
        return "segm" in self.iou_types

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
        self._gt_segs: list[dict] = []  # one RLE per ground truth / detection, for segm
        self._dt_segs: list[dict] = []
        self._per_class: list[dict] | None = None

    def keys(self) -> list[str]:
        """The keys ``compute()`` returns, in order."""
        names = [*_AP_KEYS, *(f"AR{m}" for m in self.max_dets), *_AR_AREA_KEYS]
        return [_KEY_PREFIX[t] + name for t in self.iou_types for name in names]

    def prepare(
        self, predictions: Sequence[Mapping], targets: Sequence[Mapping]
    ) -> tuple[list[dict], list[dict]]:
        """One batch made compact for keeping until ``compute()`` (the evaluator calls this
        per batch, on the rank that predicted it): dense masks (predictions' ``masks`` or
        ``box_masks``, targets' ``masks``) become one RLE per box under ``masks_rle`` when
        masks are evaluated, and are dropped when they are not. The inputs are unchanged."""
        return compact_masks(predictions, targets, keep_segm=self.segm)

    def update(self, predictions: Sequence[Mapping], targets: Sequence[Mapping]) -> None:
        """Add one batch: ``predictions[i]`` are the detections for ``targets[i]`` (dense or
        ``prepare``d masks both work)."""
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
            if self.segm:
                gt_segs = _counted(target_rles(target, where), len(gt.extra), "ground truth", where)
                dt_segs = _counted(
                    prediction_rles(pred, target, where), len(dt.extra), "detection", where
                )
                if "height" not in image and (gt_segs or dt_segs):
                    height, width = (gt_segs or dt_segs)[0]["size"]
                    image.update(height=int(height), width=int(width))
                self._gt_segs.extend(gt_segs)
                self._dt_segs.extend(dt_segs)
            self._image_ids.add(image_id)
            self._images.append(image)
            self._gt.append(gt)
            self._dt.append(dt)

    def compute(self) -> dict[str, float]:
        """Run COCOeval on everything seen; values are COCOeval's ``stats`` (-1 = undefined)."""
        keys = self.keys()
        if self.outfile_prefix is not None:
            self._write_results()
        if not self._images:
            self.summary = "CocoMetric: no images were evaluated"
            self._per_class = [self._undefined_row(c) for c in self.classes]
            return dict.fromkeys(keys, -1.0)
        self._gt = [Boxes.concat(self._gt, bool)]  # one array each from here on
        self._dt = [Boxes.concat(self._dt, np.float64)]
        categories = [
            {"id": cid, "name": name} for cid, name in zip(self.cat_ids, self.classes, strict=True)
        ]
        stats, tables = [], []
        rows: list[dict] = [{"class": c, "num_gt": n} for c, n in self._num_gt()]
        for iou_type in self.iou_types:
            masks = (self._gt_segs, self._dt_segs) if iou_type == "segm" else None
            evaluation = run_cocoeval(
                self._images,
                categories,
                self._gt[0],
                self._dt[0],
                self.max_dets,
                self.backend,
                masks,
            )
            stats.extend(evaluation.stats.tolist())
            tables.append(evaluation.table)
            if self.classwise:
                self._add_class_columns(rows, evaluation, _KEY_PREFIX[iou_type])
        self._per_class = rows if self.classwise else []
        if self.iou_types == ("bbox",):
            self.summary = tables[0]
        else:
            self.summary = "\n".join(
                f"iou_type {t}:\n{table}" for t, table in zip(self.iou_types, tables, strict=True)
            )
        if self._per_class:
            self.summary += "\n" + self._class_table()
        return {k: float(v) for k, v in zip(keys, stats, strict=True)}

    def per_class(self) -> list[dict]:
        """Rows ``{class, num_gt, AP, AP50, AP75}`` (box), with ``segm_AP``, ``segm_AP50``,
        ``segm_AP75`` for masks, from the last ``compute()``."""
        if self._per_class is None:
            raise RuntimeError("CocoMetric.per_class() needs compute() first")
        return self._per_class if self.classwise else []

    def _class_columns(self) -> list[str]:
        return [_KEY_PREFIX[t] + c for t in self.iou_types for c in ("AP", "AP50", "AP75")]

    def _undefined_row(self, name: str) -> dict:
        return {"class": name, "num_gt": 0, **dict.fromkeys(self._class_columns(), -1.0)}

    def _num_gt(self) -> list[tuple[str, int]]:
        """Non-crowd ground truths of each class."""
        gt = self._gt[0]
        num_gt = Counter(gt.cat_ids[~gt.extra].tolist())
        return [(name, num_gt[cid]) for name, cid in zip(self.classes, self.cat_ids, strict=True)]

    def _add_class_columns(self, rows: list[dict], evaluation: CocoEvaluation, key: str) -> None:
        # precision: [T iou, R recall, K class, A area, M maxDets]; area 0 is "all", maxDets
        # -1 is 100. A class without non-crowd GT is all -1 there, and is reported as -1.
        precision = evaluation.precision[:, :, :, 0, -1]
        iou_thrs = evaluation.iou_thrs
        k_of = {cid: k for k, cid in enumerate(evaluation.cat_ids)}
        for row, cid in zip(rows, self.cat_ids, strict=True):
            prec = precision[:, :, k_of[cid]]
            row[f"{key}AP"] = _mean_defined(prec)
            row[f"{key}AP50"] = _mean_defined(prec[np.isclose(iou_thrs, 0.5)])
            row[f"{key}AP75"] = _mean_defined(prec[np.isclose(iou_thrs, 0.75)])

    def _class_table(self) -> str:
        columns = self._class_columns()
        lines = [f"{'class':<20} {'num_gt':>7} " + " ".join(f"{c:>9}" for c in columns)]
        for r in self._per_class or []:
            numbers = " ".join(f"{r[c]:>9.3f}" for c in columns)
            lines.append(f"{r['class'][:20]:<20} {r['num_gt']:>7d} {numbers}")
        return "\n".join(lines)

    def _write_results(self) -> None:
        dt = Boxes.concat(self._dt, np.float64)
        for iou_type in self.iou_types:
            segs = self._dt_segs if iou_type == "segm" else None
            path = Path(f"{self.outfile_prefix}.{iou_type}.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(detection_results(dt, segs)))


def _iou_types(iou_type: str | Sequence[str]) -> tuple[str, ...]:
    """``iou_type`` as a tuple of distinct known types, in the given order."""
    types = (iou_type,) if isinstance(iou_type, str) else tuple(iou_type)
    unknown = [t for t in types if t not in IOU_TYPES]
    if not types or unknown or len(set(types)) != len(types):
        raise ValueError(
            f"CocoMetric: iou_type must be 'bbox', 'segm' or a list of both, got {iou_type!r}"
        )
    return types


def _counted(segs: list[dict], n: int, what: str, where: str) -> list[dict]:
    """``segs`` if there is one per box."""
    if len(segs) != n:
        raise ValueError(f"{where}: {len(segs)} {what} masks for {n} boxes")
    return segs


def _mean_defined(values: np.ndarray) -> float:
    """Mean over entries > -1, as COCOeval.summarize does; -1.0 when none is defined."""
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0
