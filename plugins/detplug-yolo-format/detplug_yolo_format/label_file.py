"""Reading one YOLO label file: rows ``cls cx cy w h``, normalised to the image size.

A row with more than four coordinates is a polygon (Ultralytics' segment format,
``cls x1 y1 x2 y2 ...``) and becomes its bounding box. A malformed row or a class id
outside ``names`` is a DataError naming the file and the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from detplug_core.errors import DataError

__all__ = ["ROUNDING_PX", "LabelRows", "parse_label_file", "to_pixel_boxes"]

ROUNDING_PX = 0.01


@dataclass
class LabelRows:
    """The usable rows of one file: class ids and normalised ``cx cy w h`` boxes."""

    labels: np.ndarray  # int64 [N]
    boxes: np.ndarray  # float64 [N, 4] cx, cy, w, h in 0..1
    lines: list[int]  # 1-based line number of each row
    polygons: int = 0  # rows given as polygons
    zero_size: list[int] = field(default_factory=list)  # lines of boxes with w or h <= 0
    duplicates: list[int] = field(default_factory=list)  # lines repeating an earlier row


def _row(tokens: list[str], where: str, num_classes: int) -> tuple[int, list[float], bool]:
    if len(tokens) < 5 or (len(tokens) > 5 and len(tokens) % 2 == 0):
        raise DataError(
            f"{where}: expected 'class cx cy w h' (or 'class x1 y1 x2 y2 ...' for a polygon), "
            f"got {len(tokens)} values: {' '.join(tokens)[:80]!r}"
        )
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise DataError(f"{where}: non-numeric value in {' '.join(tokens)[:80]!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"{where}: non-finite value in {' '.join(tokens)[:80]!r}")
    cls = values[0]
    if cls != int(cls) or not 0 <= cls < num_classes:
        raise DataError(
            f"{where}: class id {tokens[0]} is not in names (ids 0..{num_classes - 1}, "
            f"{num_classes} classes)"
        )
    coords = values[1:]
    if len(coords) == 4:
        return int(cls), coords, False
    xs, ys = coords[0::2], coords[1::2]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    return int(cls), [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], True


def parse_label_file(path: str, num_classes: int) -> LabelRows:
    """The rows of ``path``; an empty file gives no rows (a background image)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read label file '{path}': {err}") from None
    labels: list[int] = []
    boxes: list[list[float]] = []
    lines: list[int] = []
    rows = LabelRows(np.zeros(0, np.int64), np.zeros((0, 4)), [])
    seen: set[tuple[int, ...]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        cls, box, polygon = _row(tokens, f"{path}:{number}", num_classes)
        key = (cls, *(round(v, 9) for v in box))
        if key in seen:
            rows.duplicates.append(number)
            continue
        seen.add(key)
        rows.polygons += polygon
        if box[2] <= 0 or box[3] <= 0:
            rows.zero_size.append(number)
            continue
        labels.append(cls)
        boxes.append(box)
        lines.append(number)
    rows.labels = np.asarray(labels, dtype=np.int64)
    rows.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows.lines = lines
    return rows


def to_pixel_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Normalised ``cx cy w h`` [N,4] -> float32 xyxy pixels.

    A coordinate within ``ROUNDING_PX`` outside the image is put on its border: that is the
    rounding of the file's decimals (``0.9999995`` of 4000 px), not a box to report clipped.
    """
    cx, cy, w, h = (boxes[:, i] for i in range(4))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    limits = np.array([width, height, width, height], dtype=np.float64)
    xyxy = xyxy * limits
    xyxy = np.where((xyxy < 0) & (xyxy > -ROUNDING_PX), 0.0, xyxy)
    xyxy = np.where((xyxy > limits) & (xyxy < limits + ROUNDING_PX), limits, xyxy)
    return xyxy.astype(np.float32).reshape(-1, 4)
