"""Convert detplug predictions and targets to the COCO API, in memory.

Box arithmetic runs in float64 so that a results JSON written from the same float32 tensors
by any other tool (xywh = x2 - x1 in Python floats) gives bit-identical inputs to COCOeval.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def as_numpy(value: Any, dtype: Any) -> np.ndarray:
    """A CPU tensor, array or list as a numpy array of ``dtype`` (no copy when possible)."""
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu()
        if value.is_floating_point():  # bf16 (amp) has no numpy dtype; f32 -> f64 is exact
            value = value.double()
        value = value.numpy()
    return np.asarray(value, dtype=dtype)


def boxes_xywh(boxes: Any, where: str) -> np.ndarray:
    """``[K,4]`` xyxy boxes as float64 ``[K,4]`` xywh (COCO's box format)."""
    arr = as_numpy(boxes, np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}: boxes must have shape [K, 4] (xyxy), got {arr.shape}")
    out = arr.copy()
    out[:, 2] = arr[:, 2] - arr[:, 0]
    out[:, 3] = arr[:, 3] - arr[:, 1]
    return out


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Labels must index ``classes``; anything else is a model/dataset config mismatch."""
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f"{where}: label {int(labels[bad][0])} is outside 0..{num_classes - 1} "
            f"({num_classes} classes); does the model's num_classes match the dataset?"
        )


def _column(item: Mapping, key: str, n: int, dtype: Any, where: str) -> np.ndarray:
    arr = as_numpy(item[key], dtype).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{where}: '{key}' has {arr.shape[0]} entries for {n} boxes")
    return arr


@dataclass
class Boxes:
    """Boxes of one image or many: COCO category ids, xywh float64 boxes, and ``extra`` (the
    crowd flags of ground truth, the scores of detections)."""

    image_ids: np.ndarray  # int64 [K]
    cat_ids: np.ndarray  # int64 [K]
    xywh: np.ndarray  # float64 [K, 4]
    extra: np.ndarray  # bool [K] (crowd) or float64 [K] (scores)

    @classmethod
    def concat(cls, parts: Sequence[Boxes], extra_dtype: Any) -> Boxes:
        if not parts:
            empty = np.zeros(0, np.int64)
            return cls(empty, empty, np.zeros((0, 4)), np.zeros(0, extra_dtype))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))


_FIELDS = ("image_ids", "cat_ids", "xywh", "extra")


def gt_boxes(target: Mapping, image_id: int, cat_ids: Sequence[int], where: str) -> Boxes:
    """The ground truth of one target; ``extra`` is ``ignore`` (COCO's ``iscrowd``)."""
    xywh = boxes_xywh(target["boxes"], where)
    n = xywh.shape[0]
    labels = _column(target, "labels", n, np.int64, where)
    check_labels(labels, len(cat_ids), where)
    ignore = np.zeros(n, dtype=bool)
    if target.get("ignore") is not None:
        ignore = _column(target, "ignore", n, bool, where)
    ids = np.full(n, image_id, np.int64)
    return Boxes(ids, np.asarray(cat_ids, np.int64)[labels], xywh, ignore)


def detection_boxes(
    prediction: Mapping, image_id: int, cat_ids: Sequence[int], where: str
) -> Boxes:
    """The detections of one image; ``extra`` is the scores (float64)."""
    xywh = boxes_xywh(prediction["boxes"], where)
    n = xywh.shape[0]
    scores = _column(prediction, "scores", n, np.float64, where)
    labels = _column(prediction, "labels", n, np.int64, where)
    check_labels(labels, len(cat_ids), where)
    ids = np.full(n, image_id, np.int64)
    return Boxes(ids, np.asarray(cat_ids, np.int64)[labels], xywh, scores)


# pycocotools 2.0.11's mask.area fails on a list of 256 masks or more (an OverflowError
# from a uint8 count), so it gets at most 255 at a time.
_AREA_CHUNK = 255


def mask_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel count of each mask (float64), pycocotools' ``mask.area``."""
    rles = list(rles)
    parts = [
        mask_utils.area(rles[i : i + _AREA_CHUNK]).astype(np.float64)
        for i in range(0, len(rles), _AREA_CHUNK)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.float64)


def gt_annotations(gt: Boxes, segs: Sequence[dict] | None = None) -> list[dict]:
    """COCO annotations; ``ignore`` becomes ``iscrowd=1``.

    Without ``segs`` (boxes only), ``area`` is the box area, which is what APs/APm/APl use.
    With ``segs`` (one RLE per box, for iouType "segm"), each annotation gets its
    ``segmentation`` and ``area`` is the mask's pixel count.
    Annotation ids start at 1: COCOeval stores the matched GT id in ``dtMatches`` and reads
    0 as "unmatched".
    """
    area = gt.xywh[:, 2] * gt.xywh[:, 3] if segs is None else mask_areas(segs)
    anns = [
        {"id": i + 1, "image_id": img, "category_id": cat, "bbox": box, "area": a, "iscrowd": c}
        for i, (img, cat, box, a, c) in enumerate(
            zip(
                gt.image_ids.tolist(),
                gt.cat_ids.tolist(),
                gt.xywh.tolist(),
                area.tolist(),
                gt.extra.astype(int).tolist(),
                strict=True,
            )
        )
    ]
    if segs is not None:
        for ann, seg in zip(anns, segs, strict=True):
            ann["segmentation"] = seg
    return anns


def detection_results(dt: Boxes, segs: Sequence[dict] | None = None) -> list[dict]:
    """Entries of the standard COCO results JSON: with ``bbox`` (xywh), or, given ``segs``
    (one RLE per detection), with ``segmentation`` instead (COCO's segm results format;
    ``COCO.loadRes`` then takes each detection's area from its mask)."""
    if segs is not None:
        return [
            {"image_id": img, "category_id": cat, "segmentation": seg, "score": score}
            for img, cat, seg, score in zip(
                dt.image_ids.tolist(), dt.cat_ids.tolist(), segs, dt.extra.tolist(), strict=True
            )
        ]
    return [
        {"image_id": img, "category_id": cat, "bbox": box, "score": score}
        for img, cat, box, score in zip(
            dt.image_ids.tolist(),
            dt.cat_ids.tolist(),
            dt.xywh.tolist(),
            dt.extra.tolist(),
            strict=True,
        )
    ]


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """Collect pycocotools' progress prints instead of letting them reach the console."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


def coco_from_dict(dataset: dict, coco_cls: Any = COCO) -> Any:
    """A ``COCO`` object (of ``coco_cls``: pycocotools' or faster-coco-eval's) built from an
    in-memory dataset dict (no file), silently."""
    coco = coco_cls()
    # pycocotools 2.0.10's loadRes copies dataset["info"]; a dict without it raised KeyError.
    coco.dataset = {"info": {}, **dataset}
    with captured_stdout():
        coco.createIndex()
    return coco


def coco_results(coco_gt: Any, results: list[dict]) -> Any:
    """``coco_gt.loadRes(results)``; an empty list (which ``loadRes`` cannot take, it reads
    ``results[0]``) gives a results object with the same images and no annotations."""
    if not results:
        return coco_from_dict(
            {
                "images": list(coco_gt.dataset["images"]),
                "categories": list(coco_gt.dataset["categories"]),
                "annotations": [],
            },
            type(coco_gt),
        )
    with captured_stdout():
        # loadRes adds keys to each dict; give it copies so the caller's list stays clean.
        return coco_gt.loadRes([dict(r) for r in results])
