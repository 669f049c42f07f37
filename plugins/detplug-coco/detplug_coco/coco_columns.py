"""A COCO annotation file read into columns (numpy arrays), at the cost of pycocotools'
``COCO()`` even at 118k images.

:func:`read_coco_columns` takes a fast path over well-formed files: one pass per field over
the JSON lists, checked as whole columns (types, duplicates, references, finite boxes). At
the first thing that is not plainly right it hands the file to ``coco_json.parse_coco``,
the entry-by-entry reader, which raises the DataError naming the entry (or accepts the file,
whose columns are then made from its result): both paths accept the same files, give the
same columns and the same messages.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from detplug_coco.coco_json import CocoAnnotations, parse_categories, parse_coco

__all__ = ["CocoColumns", "read_coco_columns"]


@dataclass
class CocoColumns:
    """Images (file order) and their annotations (file order, categories known)."""

    categories: dict[int, str]
    image_ids: np.ndarray  # int64 [N]
    file_names: list[str]
    heights: np.ndarray  # int64 [N]; 0 when the file does not say
    widths: np.ndarray  # int64 [N]
    ann_image: np.ndarray  # int64 [M]: the row of each annotation's image
    boxes: np.ndarray  # float32 [M, 4] xyxy
    cat_ids: np.ndarray  # int64 [M]
    crowd: np.ndarray  # bool [M]
    ann_pos: np.ndarray  # int64 [M]: each annotation's place in the file's 'annotations'
    unknown_category: list[tuple[str, int]]  # (position, category_id) of skipped annotations


def _only(values: Iterable[Any], *types: type) -> bool:
    return set(map(type, values)) <= set(types)


def _columns(items: list, *keys: str) -> tuple[list, ...]:
    """``items[i][key]`` for each key, as one list per key (KeyError if one lacks it).
    One list comprehension per key: no tuple per item (which would wake the garbage
    collector over the whole parsed file, again and again)."""
    return tuple([item[key] for item in items] for key in keys)


def _flags(values: list) -> np.ndarray:
    """``bool(v)`` of each value, bool [M] (integers in one numpy step)."""
    if _only(values, int):
        return np.array(values, np.int64) != 0 if values else np.zeros(0, bool)
    return np.array(list(map(bool, values)), bool).reshape(-1)


def _sizes(values: list) -> np.ndarray:
    return np.array([-1 if v is None else v for v in values], np.int64)


def _fast(data: Any, path: str, on_unknown_class: str) -> CocoColumns | None:
    """The columns of a well-formed file; None where anything needs a closer look."""
    if not isinstance(data, dict):
        return None
    categories = parse_categories(data, path)
    images, anns = data.get("images"), data.get("annotations")
    anns = [] if anns is None else anns
    if not isinstance(images, list) or not isinstance(anns, list):
        return None
    try:
        ids, names = _columns(images, "id", "file_name")
        heights = [im.get("height") for im in images]
        widths = [im.get("width") for im in images]
        ann_ids, ann_cats, ann_boxes = _columns(anns, "image_id", "category_id", "bbox")
        crowd = [a.get("iscrowd", 0) for a in anns]
    except (TypeError, KeyError, AttributeError):
        return None
    if not (_only(ids, int) and _only(names, str) and all(names) and len(set(ids)) == len(ids)):
        return None
    if not (_only(heights, int, type(None)) and _only(widths, int, type(None))):
        return None
    if not (_only(ann_ids, int) and _only(ann_cats, int) and _only(ann_boxes, list)):
        return None
    numbers = itertools.chain.from_iterable(ann_boxes)
    if not (set(map(len, ann_boxes)) <= {4} and _only(numbers, int, float)):
        return None
    try:
        image_ids = np.array(ids, np.int64)
        h, w = _sizes(heights), _sizes(widths)
        ann_image_ids = np.array(ann_ids, np.int64)
        cat_ids = np.array(ann_cats, np.int64)
        xywh = np.fromiter(itertools.chain.from_iterable(ann_boxes), np.float64, 4 * len(anns))
    except OverflowError:
        return None
    xywh = xywh.reshape(-1, 4)
    if not np.isfinite(xywh).all():
        return None
    if len(anns) and not len(ids):
        return None
    order = np.argsort(image_ids, kind="stable")
    at = np.minimum(np.searchsorted(image_ids[order], ann_image_ids), max(len(ids) - 1, 0))
    rows = order[at] if len(ids) else ann_image_ids
    if (image_ids[rows] != ann_image_ids).any():
        return None  # an annotation of an image that is not in 'images'
    known = np.isin(cat_ids, np.array(list(categories), np.int64))
    unknown: list[tuple[str, int]] = []
    if not known.all():
        if on_unknown_class == "error":
            return None
        unknown = [
            (f"annotations[{i}] (id {anns[i].get('id')})", int(cat_ids[i]))
            for i in np.flatnonzero(~known)
        ]
    valid = (h > 0) & (w > 0)
    boxes = xywh.copy()
    boxes[:, 2:] += xywh[:, :2]  # xyxy in float64, as the entry-by-entry reader computes it
    return CocoColumns(
        categories=categories,
        image_ids=image_ids,
        file_names=names,
        heights=np.where(valid, h, 0),
        widths=np.where(valid, w, 0),
        ann_image=rows[known],
        boxes=boxes[known].astype(np.float32),
        cat_ids=cat_ids[known],
        crowd=_flags(crowd)[known],
        ann_pos=np.flatnonzero(known).astype(np.int64),
        unknown_category=unknown,
    )


def _from_parsed(parsed: CocoAnnotations) -> CocoColumns:
    images = parsed.images
    counts = [len(im.boxes) for im in images]
    boxes = [np.asarray(im.boxes, np.float32).reshape(-1, 4) for im in images]
    return CocoColumns(
        categories=parsed.categories,
        image_ids=np.array([im.image_id for im in images], np.int64),
        file_names=[im.file_name for im in images],
        heights=np.array([im.height for im in images], np.int64),
        widths=np.array([im.width for im in images], np.int64),
        ann_image=np.repeat(np.arange(len(images), dtype=np.int64), counts),
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32),
        cat_ids=np.array([c for im in images for c in im.cat_ids], np.int64),
        crowd=np.array([c for im in images for c in im.crowd], bool),
        ann_pos=np.array([p for im in images for p in im.ann_pos], np.int64),
        unknown_category=parsed.unknown_category,
    )


def read_coco_columns(data: Any, path: str, on_unknown_class: str) -> CocoColumns:
    """The parsed JSON ``data`` of the file ``path`` as columns (module docstring);
    a DataError naming the entry for a malformed file."""
    columns = _fast(data, path, on_unknown_class)
    if columns is None:
        columns = _from_parsed(parse_coco(data, path, on_unknown_class))
    return columns
