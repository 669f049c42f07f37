"""What a COCO dataset with ``with_masks: true`` fixes or drops in the annotations' masks,
judged against their images on whole columns at once and counted in the dataset's
:class:`CleanupReport` as the box clean-up counts boxes (a count and the first example,
the annotation file and the annotation's place and id).

An annotation is a box and its mask: where the mask cannot be made, both are dropped.

* no ``segmentation`` (missing, null or ``[]``): dropped; no annotation with one at all is
  a DataError (a boxes-only file);
* a polygon of fewer than 3 points (fewer than 6 numbers): that polygon left out (the
  annotation's other polygons stay; with none left its mask is empty, below);
* an RLE whose ``size`` is not its image's: dropped;
* an RLE whose runs are malformed or do not add up to height x width: dropped (pycocotools
  would write past the mask);
* an empty mask (polygons of zero area within the image, an RLE without a pixel): dropped;
* a polygon reaching outside the image: kept, its mask is the part inside (pycocotools
  rasterises within the image), counted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from detplug_torchvision.datasets import CleanupReport

from detplug_coco.coco_segments import NONE, POLYGONS, RLE, SegmentStore
from detplug_coco.rle_counts import rle_string_stats
from detplug_core.errors import DataError

__all__ = [
    "EMPTY",
    "MALFORMED_RLE",
    "NO_SEGMENTATION",
    "OUTSIDE",
    "SHORT_POLYGONS",
    "WRONG_SIZE",
    "clean_segments",
    "polygon_areas",
]

NO_SEGMENTATION = "annotations without a segmentation dropped"
SHORT_POLYGONS = "polygons of fewer than 3 points left out"
WRONG_SIZE = "RLE masks of another size than their image dropped"
MALFORMED_RLE = "RLE masks with malformed runs dropped"
EMPTY = "empty masks dropped (zero area in the image)"
OUTSIDE = "masks reaching outside the image cut at its border"

#: a polygon whose area (in the image) is below this, in square pixels, is empty: well
#: above the rounding of the shoelace sum of collinear points, well below any real object
MIN_AREA = 1e-6


def _points(store: SegmentStore, heights: np.ndarray, widths: np.ndarray):
    """Each point's x, y and its image's width, height; each polygon's first point."""
    points = store.polygon_coords().reshape(-1, 2)
    per_part = np.diff(store.coord_start) // 2
    owner = np.repeat(store.part_owner(), per_part)
    first = store.coord_start[:-1] // 2
    return points[:, 0], points[:, 1], widths[owner], heights[owner], first, per_part


def polygon_areas(
    store: SegmentStore, heights: np.ndarray, widths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(area float64 [M], outside bool [M])``: the summed shoelace area of each
    annotation's polygons with their points clamped to the image (0 for a polygon wholly
    outside), and whether any point lies outside ``0..width x 0..height``. Every polygon
    must have at least one point."""
    x, y, w, h, first, per_part = _points(store, heights, widths)
    outside_point = (x < 0) | (y < 0) | (x > w) | (y > h)
    point_ann = np.repeat(store.part_owner(), per_part)
    outside = np.bincount(point_ann[outside_point], minlength=len(store)) > 0
    if not len(x):
        return np.zeros(len(store)), outside
    x, y = np.clip(x, 0, w), np.clip(y, 0, h)
    following = np.arange(1, len(x) + 1)
    following[first + per_part - 1] = first  # each polygon closes on its first point
    cross = x * y[following] - x[following] * y
    part_area = np.abs(np.add.reduceat(cross, first)) / 2
    area = np.bincount(store.part_owner(), weights=part_area, minlength=len(store))
    return area, outside


def _report(
    report: CleanupReport, reason: str, flags: np.ndarray, example_of: Callable[[int], str]
) -> None:
    if flags.any():
        report.add(reason, example_of(int(np.flatnonzero(flags)[0])), int(flags.sum()))


def clean_segments(
    store: SegmentStore,
    heights: np.ndarray,
    widths: np.ndarray,
    report: CleanupReport,
    name: Callable[[int], str],
    path: str,
) -> tuple[SegmentStore, np.ndarray]:
    """``store`` cleaned as the module docstring says, and which annotations are kept
    (bool [M]). ``heights``/``widths`` (int [M]) are each annotation's image size;
    ``name(m)`` names annotation m in the report (file, place, id)."""
    heights = np.asarray(heights, np.int64)
    widths = np.asarray(widths, np.int64)
    if len(store) and (store.kind == NONE).all():
        raise DataError(
            f"{path}: no annotation has a 'segmentation' (polygons or RLE); with_masks: true "
            "needs them (or set with_masks: false)"
        )
    missing = store.kind == NONE
    _report(report, NO_SEGMENTATION, missing, name)

    short = np.diff(store.coord_start) < 6
    if short.any():
        owner = store.part_owner()
        report.add(SHORT_POLYGONS, name(int(owner[np.flatnonzero(short)[0]])), int(short.sum()))
        store = store.without_parts(short)

    rle = store.kind == RLE
    wrong_size = rle & ((store.rle_size[:, 0] != heights) | (store.rle_size[:, 1] != widths))
    _report(report, WRONG_SIZE, wrong_size, name)
    stats = rle_string_stats(store.rle_bytes, store.rle_start)
    malformed = rle & ~wrong_size & (~stats.ok | (stats.total != heights * widths))
    _report(report, MALFORMED_RLE, malformed, name)

    polygons = store.kind == POLYGONS
    area, outside = polygon_areas(store, heights, widths)
    empty = (polygons & (area < MIN_AREA)) | (rle & ~wrong_size & ~malformed & (stats.area == 0))
    _report(report, EMPTY, empty, name)
    keep = ~(missing | wrong_size | malformed | empty)
    _report(report, OUTSIDE, polygons & outside & keep, name)
    return (store if keep.all() else store.select(keep)), keep
