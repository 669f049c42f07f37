"""Reading one YOLO label file: rows ``cls cx cy w h`` (a box) or ``cls x1 y1 x2 y2 ...``
(a polygon, Ultralytics' segment format, at least 3 points), normalised to the image size.

A polygon's box is its bounding box after its points are clipped to the image (as
Ultralytics does). Dirty rows are dropped and listed by line (the dataset counts them in
its summary): repeated rows, zero-size boxes, polygons with an odd number of coordinates,
fewer than 3 distinct points, or (when masks are asked for) a mask that covers no pixel.
A polygon point outside the
image is clipped, and its line listed. A malformed row (fewer than 5 values, 6 values,
non-numeric) or a class id outside ``names`` is a DataError naming the file and the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from detplug_core.errors import DataError
from detplug_yolo_format.polygons import clip_polygon, covered_pixels, distinct_points

__all__ = ["ROUNDING_PX", "LabelRows", "parse_label_file", "to_pixel_boxes"]

ROUNDING_PX = 0.01


@dataclass
class LabelRows:
    """The usable rows of one file: class ids, normalised ``cx cy w h`` boxes and, for the
    polygon rows, their points (one array for the file, ``point_start`` per row; a box row
    has none)."""

    labels: np.ndarray  # int64 [N]
    boxes: np.ndarray  # float64 [N, 4] cx, cy, w, h in 0..1
    lines: list[int]  # 1-based line number of each row
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # float64 [P, 2]
    point_start: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # [N + 1]
    polygons: int = 0  # rows given as polygons (kept)
    zero_size: list[int] = field(default_factory=list)  # lines of boxes with w or h <= 0
    duplicates: list[int] = field(default_factory=list)  # lines repeating an earlier row
    odd_polygons: list[int] = field(default_factory=list)  # odd number of coordinates
    few_points: list[int] = field(default_factory=list)  # fewer than 3 distinct points
    clipped: list[int] = field(default_factory=list)  # polygons with points outside 0..1
    empty_masks: list[int] = field(default_factory=list)  # polygons covering no pixel

    def dropped(self) -> bool:
        """Whether any row of the file was dropped (the file is not a background image)."""
        lists = (self.zero_size, self.odd_polygons, self.few_points, self.empty_masks)
        return any(lists)


def _values(tokens: list[str], where: str, num_classes: int) -> tuple[int, list[float]]:
    if len(tokens) < 5 or len(tokens) == 6:
        raise DataError(
            f"{where}: expected 'class cx cy w h' (or 'class x1 y1 x2 y2 x3 y3 ...' for a "
            f"polygon of 3 or more points), got {len(tokens)} values: {' '.join(tokens)[:80]!r}"
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
    return int(cls), values[1:]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read label file '{path}': {err}") from None


def parse_label_file(
    path: str, num_classes: int, height: int = 0, width: int = 0, masks: bool = False
) -> LabelRows:
    """The rows of ``path``; an empty file gives no rows (a background image).

    ``height`` and ``width`` (the image's, 0 when unknown) set the clipping tolerance; with
    ``masks`` (and the size known) polygons whose mask covers no pixel are dropped
    (pycocotools' rasterisation: about 0.1 ms a polygon, paid only when masks are asked
    for)."""
    tolerance = (ROUNDING_PX / width if width else 0.0, ROUNDING_PX / height if height else 0.0)
    rows = LabelRows(np.zeros(0, np.int64), np.zeros((0, 4)), [])
    labels: list[int] = []
    boxes: list[list[float]] = []
    polygons: list[np.ndarray | None] = []
    seen: set[tuple[float, ...]] = set()
    for number, line in enumerate(_read(path).splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        cls, coords = _values(tokens, f"{path}:{number}", num_classes)
        # a box's values rounded (as ever); a polygon's as read: rounding 2n values costs
        key = (cls, *(round(v, 9) for v in coords)) if len(coords) == 4 else (cls, *coords)
        if key in seen:
            rows.duplicates.append(number)
            continue
        seen.add(key)
        polygon = None
        if len(coords) == 4:
            box = coords
        elif len(coords) % 2:
            rows.odd_polygons.append(number)
            continue
        else:
            xs, ys, clipped = clip_polygon(coords, tolerance)
            if distinct_points(xs, ys) < 3:
                rows.few_points.append(number)
                continue
            if clipped:
                rows.clipped.append(number)
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            box = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
            polygon = np.array((xs, ys)).T
        if box[2] <= 0 or box[3] <= 0:
            rows.zero_size.append(number)
            continue
        labels.append(cls)
        boxes.append(box)
        polygons.append(polygon)
        rows.lines.append(number)
    if masks and height and width:
        _drop_empty_masks(rows, labels, boxes, polygons, height, width)
    rows.labels = np.asarray(labels, dtype=np.int64)
    rows.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    counts = [0 if p is None else len(p) for p in polygons]
    rows.point_start = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    shapes = [p for p in polygons if p is not None]
    rows.points = np.concatenate(shapes).reshape(-1, 2) if shapes else np.zeros((0, 2))
    rows.polygons = len(shapes)
    return rows


def _drop_empty_masks(
    rows: LabelRows,
    labels: list[int],
    boxes: list[list[float]],
    polygons: list[np.ndarray | None],
    height: int,
    width: int,
) -> None:
    """Drop (in place) the polygon rows whose mask covers no pixel of the image."""
    which = [k for k, p in enumerate(polygons) if p is not None]
    areas = covered_pixels([polygons[k] for k in which], height, width)
    empty = {k for k, area in zip(which, areas.tolist(), strict=True) if area == 0}
    if not empty:
        return
    rows.empty_masks += [rows.lines[k] for k in sorted(empty)]
    keep = [k for k in range(len(labels)) if k not in empty]
    labels[:] = [labels[k] for k in keep]
    boxes[:] = [boxes[k] for k in keep]
    polygons[:] = [polygons[k] for k in keep]
    rows.lines[:] = [rows.lines[k] for k in keep]


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
