"""Reading and validating Pascal VOC annotation files (one XML per image).

Coordinates in VOC files are 1-based pixel indices, inclusive: a box from ``xmin=1`` to
``xmax=W`` covers the whole width. detplug boxes are continuous pixel coordinates, so a
box becomes ``[xmin - 1, ymin - 1, xmax, ymax]`` (the same convention as Detectron2); its
width ``xmax - xmin + 1`` is the Pascal devkit's. A box with ``xmax <= xmin`` or
``ymax <= ymin`` in the file has zero area (a click, not a drag) and is reported, not kept.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from detplug_core.errors import DataError

__all__ = [
    "VOC_CLASSES",
    "VocFile",
    "VocObject",
    "is_zero_area",
    "parse_voc_xml",
    "read_split",
]

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip


@dataclass
class VocObject:
    """One ``<object>``: class name, box in detplug coordinates, difficult flag."""

    index: int  # position among the file's <object> elements
    name: str
    box: list[float]
    difficult: bool
    file_box: list[float]  # as written in the file, for messages


@dataclass
class VocFile:
    """One parsed annotation file; ``height``/``width`` are 0 when the file lacks them."""

    path: str
    filename: str
    height: int
    width: int
    objects: list[VocObject] = field(default_factory=list)


def read_split(path: str) -> list[str]:
    """Image ids listed in an ``ImageSets/Main/<split>.txt`` file (first token per line)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.split()[0] for line in f if line.strip()]
    except FileNotFoundError:
        raise DataError(f"split file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read split file '{path}': {err}") from None


def _text(elem: ET.Element, tag: str) -> str | None:
    child = elem.find(tag)
    return child.text.strip() if child is not None and child.text else None


def _size(root: ET.Element, tag: str) -> int:
    text = _text(root, f"size/{tag}")
    try:
        value = int(float(text)) if text else 0
    except ValueError:
        value = 0
    return max(value, 0)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _object(obj: ET.Element, index: int, path: str) -> VocObject:
    name = _text(obj, "name")
    where = f"{path}: object {index}"
    if not name:
        raise DataError(f"{where}: missing <name>")
    coords = [_number(_text(obj, f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
    if any(c is None for c in coords):
        raw = [_text(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        raise DataError(
            f"{where} ({name}): <bndbox> needs numeric xmin, ymin, xmax, ymax; got {raw}"
        )
    xmin, ymin, xmax, ymax = coords  # type: ignore[misc]
    difficult = _number(_text(obj, "difficult")) or 0.0
    return VocObject(
        index=index,
        name=name,
        box=[xmin - 1.0, ymin - 1.0, xmax, ymax],
        difficult=difficult != 0.0,
        file_box=[xmin, ymin, xmax, ymax],
    )


def parse_voc_xml(path: str) -> VocFile:
    """The parsed file; a DataError naming the file (and line:column if malformed)."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(f"annotation file '{path}' does not exist") from None
    except ET.ParseError as err:
        line, column = err.position  # column is 0-based, as expat counts
        reason = str(err).rsplit(": line", 1)[0]
        raise DataError(
            f"{path}: malformed XML at line {line}, column {column}: {reason}"
        ) from None
    except OSError as err:
        raise DataError(f"cannot read annotation file '{path}': {err}") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    objects = [_object(obj, i, path) for i, obj in enumerate(root.iter("object"))]
    return VocFile(
        path=path,
        filename=_text(root, "filename") or "",
        height=_size(root, "height"),
        width=_size(root, "width"),
        objects=objects,
    )


def is_zero_area(obj: VocObject) -> bool:
    """True when the file's box has ``xmax <= xmin`` or ``ymax <= ymin``."""
    xmin, ymin, xmax, ymax = obj.file_box
    return xmax <= xmin or ymax <= ymin
