"""Reading and validating a COCO-format annotation file (the dataset's side).

Everything is checked here, at dataset construction, so a bad file fails in the main process
with the file and the JSON position (``annotations[17] (id 905)``) in the message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from detplug_core.errors import DataError

__all__ = [
    "CocoAnnotations",
    "CocoImage",
    "label_mapping",
    "load_json",
    "parse_categories",
    "parse_coco",
]


@dataclass
class CocoImage:
    """One ``images`` entry with its valid annotations (boxes xyxy, COCO category ids)."""

    image_id: int
    file_name: str
    height: int  # 0 when the file did not say (read from the image header later)
    width: int
    boxes: list[list[float]] = field(default_factory=list)
    cat_ids: list[int] = field(default_factory=list)
    crowd: list[bool] = field(default_factory=list)
    ann_pos: list[int] = field(default_factory=list)  # each annotation's place in the file


@dataclass
class CocoAnnotations:
    """The parsed file: category names by id (file order) and the images (file order)."""

    categories: dict[int, str]
    images: list[CocoImage]
    unknown_category: list[tuple[str, int]]  # (position, category_id) of skipped annotations


def load_json(path: str) -> Any:
    """The parsed JSON file; a DataError naming the file, line and column if malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"annotation file '{path}' does not exist") from None
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}:{err.colno}: malformed JSON: {err.msg} (char {err.pos})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read annotation file '{path}': {err}") from None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _list(data: dict, key: str, path: str, required: bool = True) -> list:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise DataError(f"{path}: '{key}' must be a list, got {type(value).__name__}")
    return value


def _entry(item: Any, where: str, path: str) -> dict:
    if not isinstance(item, dict):
        raise DataError(f"{path}: {where} must be an object, got {type(item).__name__}")
    return item


def parse_categories(data: dict, path: str) -> dict[int, str]:
    """``{category_id: name}`` in file order; ids must be unique integers."""
    categories: dict[int, str] = {}
    for i, item in enumerate(_list(data, "categories", path)):
        where = f"categories[{i}]"
        cat = _entry(item, where, path)
        cat_id, name = _int(cat.get("id")), cat.get("name")
        if cat_id is None or not isinstance(name, str):
            raise DataError(f"{path}: {where} needs an integer 'id' and a string 'name': {cat}")
        if cat_id in categories:
            raise DataError(f"{path}: {where}: duplicate category id {cat_id}")
        categories[cat_id] = name
    return categories


def _parse_images(data: dict, path: str) -> dict[int, CocoImage]:
    images: dict[int, CocoImage] = {}
    for i, item in enumerate(_list(data, "images", path)):
        where = f"images[{i}]"
        img = _entry(item, where, path)
        image_id, file_name = _int(img.get("id")), img.get("file_name")
        if image_id is None or not isinstance(file_name, str) or not file_name:
            raise DataError(f"{path}: {where} needs an integer 'id' and a 'file_name': {img}")
        if image_id in images:
            raise DataError(f"{path}: {where}: duplicate image id {image_id}")
        height, width = _int(img.get("height")), _int(img.get("width"))
        if height is None or width is None or height <= 0 or width <= 0:
            height = width = 0  # unknown: read from the image header
        images[image_id] = CocoImage(image_id, file_name, height, width)
    return images


def _bbox_xyxy(ann: dict, where: str, path: str) -> list[float]:
    bbox = ann.get("bbox")
    if (
        not isinstance(bbox, list | tuple)
        or len(bbox) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        or not all(math.isfinite(v) for v in bbox)
    ):
        raise DataError(
            f"{path}: {where}: 'bbox' must be 4 finite numbers [x, y, w, h], got {bbox}"
        )
    x, y, w, h = (float(v) for v in bbox)
    return [x, y, x + w, y + h]


def parse_coco(data: Any, path: str, on_unknown_class: str) -> CocoAnnotations:
    """Validate the parsed JSON and group annotations by image.

    An annotation of a category id missing from ``categories`` is an error naming it, or
    (``on_unknown_class="skip"``) left out and listed in ``unknown_category``.
    """
    if not isinstance(data, dict):
        raise DataError(f"{path}: a COCO file is a JSON object, got {type(data).__name__}")
    categories = parse_categories(data, path)
    images = _parse_images(data, path)
    unknown: list[tuple[str, int]] = []
    for i, item in enumerate(_list(data, "annotations", path, required=False)):
        ann = _entry(item, f"annotations[{i}]", path)
        where = f"annotations[{i}] (id {ann.get('id')})"
        image = images.get(_int(ann.get("image_id")))  # type: ignore[arg-type]
        if image is None:
            raise DataError(f"{path}: {where}: image_id {ann.get('image_id')!r} is not in 'images'")
        cat_id = _int(ann.get("category_id"))
        box = _bbox_xyxy(ann, where, path)
        if cat_id not in categories:
            if on_unknown_class == "error":
                raise DataError(
                    f"{path}: {where}: category_id {ann.get('category_id')!r} is not in "
                    f"'categories' (ids {sorted(categories)}); set on_unknown_class: skip "
                    "to leave such annotations out"
                )
            unknown.append((where, ann.get("category_id")))
            continue
        image.boxes.append(box)
        image.cat_ids.append(cat_id)
        image.crowd.append(bool(ann.get("iscrowd", 0)))
        image.ann_pos.append(i)
    return CocoAnnotations(categories, list(images.values()), unknown)


def label_mapping(
    categories: dict[int, str], classes: Sequence[str] | None, path: str
) -> tuple[list[str], list[int]]:
    """``(classes, label_to_cat_id)``: all categories sorted by id by default, else the
    categories named in ``classes``, in that order."""
    if classes is None:
        ids = sorted(categories)
        return [categories[c] for c in ids], ids
    by_name: dict[str, list[int]] = {}
    for cat_id, name in categories.items():
        by_name.setdefault(name, []).append(cat_id)
    ids = []
    for name in classes:
        found = by_name.get(name, [])
        if len(found) != 1:
            problem = "is not a category" if not found else f"names several categories {found}"
            raise DataError(
                f"{path}: class {name!r} {problem}; categories: "
                + ", ".join(f"{n!r} (id {c})" for c, n in categories.items())
            )
        ids.append(found[0])
    return list(classes), ids
