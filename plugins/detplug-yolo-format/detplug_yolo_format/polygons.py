"""Segmentation polygons of YOLO label rows: cleaning them at construction, and turning them
into instance masks when a sample is loaded.

Polygons are normalised ``x y`` points (0..1 of the image's width and height, Ultralytics'
segment format). They are rasterised with pycocotools (``frPyObjects`` + ``decode``), as
detplug-coco rasterises COCO polygons: a pixel belongs to the mask when its centre is inside
the polygon. A row without a polygon (a box row) gets its filled box, rasterised by
pycocotools from the box, so both kinds follow the same pixel convention.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ["box_masks_xyxy", "clip_polygon", "covered_pixels", "distinct_points", "rasterise"]


def clip_polygon(
    coords: list[float], tolerance: tuple[float, float]
) -> tuple[list[float], list[float], bool]:
    """``(xs, ys, clipped)``: the normalised ``x1 y1 x2 y2 ...`` ``coords`` as x and y lists
    clipped to 0..1, and whether a point lay outside by more than ``tolerance`` (x, y: the
    rounding of the file's decimals, not a polygon to report clipped). Plain lists: a
    polygon is a few dozen numbers, and numpy's per-call cost would dominate."""
    xs, ys = coords[0::2], coords[1::2]
    low, high = min(min(xs), min(ys)), max(max(xs), max(ys))
    if low >= 0.0 and high <= 1.0:
        return xs, ys, False
    tol_x, tol_y = tolerance
    beyond = min(xs) < -tol_x or max(xs) > 1 + tol_x or min(ys) < -tol_y or max(ys) > 1 + tol_y
    xs = [min(max(x, 0.0), 1.0) for x in xs]
    ys = [min(max(y, 0.0), 1.0) for y in ys]
    return xs, ys, beyond


def distinct_points(xs: list[float], ys: list[float]) -> int:
    """How many different points the polygon holds."""
    return len(set(zip(xs, ys, strict=True)))


def _in_pixels(polygons: list[np.ndarray], height: int, width: int) -> list[list[float]]:
    scale = np.array([width, height], dtype=np.float64)
    return [(np.asarray(p, np.float64) * scale).ravel().tolist() for p in polygons]


def covered_pixels(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """The number of pixels each normalised polygon's mask covers (int64 [N]), from its
    run-length encoding without decoding it."""
    if not polygons:
        return np.zeros(0, np.int64)
    rles = mask_utils.frPyObjects(_in_pixels(polygons, height, width), height, width)
    return np.asarray(mask_utils.area(rles), np.int64).reshape(-1)


def box_masks_xyxy(boxes: np.ndarray, height: int, width: int) -> list[dict]:
    """Run-length encodings of the filled ``boxes`` (float [N, 4] xyxy pixels)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return mask_utils.frPyObjects(np.ascontiguousarray(xywh), height, width) if len(xywh) else []


def rasterise(
    polygons: list[np.ndarray | None], boxes: np.ndarray, height: int, width: int
) -> np.ndarray:
    """uint8 [K, H, W] masks: polygon k (normalised [P, 2]) filled, or where it is None the
    filled box ``boxes[k]`` (xyxy pixels)."""
    masks = np.zeros((len(polygons), height, width), np.uint8)
    with_polygon = [k for k, p in enumerate(polygons) if p is not None]
    without = [k for k, p in enumerate(polygons) if p is None]
    if with_polygon:
        chosen = [polygons[k] for k in with_polygon]
        rles = mask_utils.frPyObjects(_in_pixels(chosen, height, width), height, width)
        masks[with_polygon] = mask_utils.decode(rles).transpose(2, 0, 1)
    if without:
        rles = box_masks_xyxy(boxes[without], height, width)
        masks[without] = mask_utils.decode(rles).transpose(2, 0, 1)
    return masks
