"""Reading the ``segmentation`` of COCO annotations into a :class:`SegmentStore`.

Only the structure is checked here (polygons are lists of numbers in x, y pairs, an RLE is
``{"size": [h, w], "counts": str | [int, ...]}``): a file that breaks it is a DataError
naming the annotation, as a bad ``bbox`` is. What the values say (polygons of fewer than
3 points, masks outside or of another size than their image, empty masks, runs that do not
fill the image) is judged against the image by ``segment_cleanup``.

Polygons are read in a few passes over all annotations at once (their coordinates go into
one float64 array through ``np.fromiter``); RLE, rare in detection files (crowd regions),
one by one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from detplug_coco.coco_segments import NONE, POLYGONS, RLE, SegmentStore, compact_coords
from detplug_core.errors import DataError

__all__ = ["read_segments"]

_NUMBERS = {int, float}
_POLYGON_FORM = "polygons are lists of numbers [x1, y1, x2, y2, ...]"


def _numbers(values: Iterable[Any]) -> bool:
    return set(map(type, values)) <= _NUMBERS


def _where(annotations: Sequence[dict], position: int, path: str) -> str:
    ann_id = annotations[position].get("id")
    return f"{path}: annotations[{position}] (id {ann_id})"


def _kinds(segments: list, where: Any) -> np.ndarray:
    kinds = np.full(len(segments), NONE, np.uint8)
    for i, seg in enumerate(segments):
        if type(seg) is list:
            kinds[i] = POLYGONS if seg else NONE
        elif type(seg) is dict:
            kinds[i] = RLE
        elif seg is not None:
            raise DataError(
                f"{where(i)}: 'segmentation' must be a list of polygons or an RLE object "
                f"{{'size': [h, w], 'counts': ...}}, got {type(seg).__name__}"
            )
    return kinds


def _check_polygons(polygons: list, where: Any) -> None:
    """The DataError for the first annotation (of ``polygons``) that breaks the form."""
    for i, seg in enumerate(polygons):
        for part in seg:
            if type(part) is not list or not _numbers(part):
                shown = repr(part)
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                raise DataError(f"{where(i)}: 'segmentation': {_POLYGON_FORM}; got {shown}")
            if not all(math.isfinite(v) for v in part):
                raise DataError(f"{where(i)}: 'segmentation' has a coordinate that is not finite")
            if len(part) % 2:
                raise DataError(
                    f"{where(i)}: 'segmentation' has a polygon of {len(part)} numbers (odd); "
                    + _POLYGON_FORM
                )


def _read_polygons(polygons: list, where: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(polygons per annotation, numbers per polygon, coordinates float64)``."""
    per_ann = np.fromiter(map(len, polygons), np.int64, len(polygons))
    parts = list(itertools.chain.from_iterable(polygons))
    if not set(map(type, parts)) <= {list}:
        _check_polygons(polygons, where)
    lengths = np.fromiter(map(len, parts), np.int64, len(parts))
    if not _numbers(itertools.chain.from_iterable(parts)):
        _check_polygons(polygons, where)
    total = int(lengths.sum())
    coords = np.fromiter(itertools.chain.from_iterable(parts), np.float64, total)
    if not np.isfinite(coords).all() or (lengths % 2).any():
        _check_polygons(polygons, where)
    return per_ann, lengths, coords


def _size(value: Any) -> list[int] | None:
    ok = isinstance(value, list) and len(value) == 2
    if ok and all(type(v) is int and v > 0 for v in value):
        return value
    return None


def _rle_counts(seg: dict, where: str) -> tuple[bytes, list[int]]:
    """``(compressed counts, size)`` of one RLE object."""
    size, counts = _size(seg.get("size")), seg.get("counts")
    if size is None:
        raise DataError(
            f"{where}: an RLE 'segmentation' needs 'size': [height, width] (two positive "
            f"integers), got {seg.get('size')!r}"
        )
    if isinstance(counts, str):
        return counts.encode("utf-8"), size  # a non-ASCII character is a malformed run
    if isinstance(counts, list) and all(type(c) is int for c in counts):
        if counts and (min(counts) < 0 or max(counts) > 0xFFFFFFFF):
            return b"", size  # runs that cannot be: malformed (judged with the others)
        rle = mask_utils.frPyObjects({"size": size, "counts": counts}, *size)
        return rle["counts"], size
    got = type(counts).__name__
    if isinstance(counts, list):
        got = "a list holding " + ", ".join(sorted({type(c).__name__ for c in counts} - {"int"}))
    raise DataError(
        f"{where}: an RLE 'segmentation' needs 'counts' as a string (compressed) or a list "
        f"of integers (uncompressed), got {got}"
    )


def read_segments(annotations: Sequence[dict], positions: np.ndarray, path: str) -> SegmentStore:
    """The segmentations of ``annotations[p]`` for each p of ``positions`` (int [M], the
    annotations' places in the file ``path``), in that order."""
    positions = np.asarray(positions, np.int64).tolist()
    segments = [annotations[p].get("segmentation") for p in positions]

    def where(i: int) -> str:
        return _where(annotations, positions[i], path)

    kinds = _kinds(segments, where)
    num = len(segments)
    poly_rows = np.flatnonzero(kinds == POLYGONS)
    per_ann, lengths, coords = _read_polygons(
        [segments[i] for i in poly_rows.tolist()], lambda i: where(int(poly_rows[i]))
    )
    parts = np.zeros(num, np.int64)
    parts[poly_rows] = per_ann
    part_start = np.zeros(num + 1, np.int64)
    np.cumsum(parts, out=part_start[1:])
    coord_start = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=coord_start[1:])

    rle_sizes = np.zeros((num, 2), np.int64)
    rle_lengths = np.zeros(num, np.int64)
    chunks = []
    for i in np.flatnonzero(kinds == RLE).tolist():
        counts, size = _rle_counts(segments[i], where(i))
        rle_sizes[i] = size
        rle_lengths[i] = len(counts)
        chunks.append(counts)
    rle_start = np.zeros(num + 1, np.int64)
    np.cumsum(rle_lengths, out=rle_start[1:])
    stored, scale = compact_coords(coords)
    return SegmentStore(
        kind=kinds,
        part_start=part_start,
        coord_start=coord_start,
        coords=stored,
        coord_scale=scale,
        rle_start=rle_start,
        rle_bytes=np.frombuffer(b"".join(chunks), np.uint8),
        rle_size=rle_sizes,
    )
