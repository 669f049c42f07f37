"""The ``segmentation`` of every annotation of a COCO file, kept in a few flat arrays, and
its masks decoded with pycocotools for the annotations of one image at a time.

As for the records (``RecordStore``), no Python object per annotation survives
construction: the polygon coordinates of all annotations are one array, cut into polygons
by offsets and polygons into annotations by offsets. pycocotools rasterises coordinates in
double precision, so they must come back bit for bit (float32 would move a point that sits
on a rounding boundary of its 5x upsampling): as int32 hundredths of a pixel when every
coordinate is a number of at most two decimals (COCO's files; ``k / 100.0`` is the double
nearest to that decimal, the one the JSON parser made), else as float64;
RLE ``counts`` strings are one byte buffer with offsets (uncompressed RLE is compressed
once, when read). DataLoader workers read the arrays without copying their pages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ["NONE", "POLYGONS", "RLE", "SegmentStore", "compact_coords", "take_ranges"]

NONE, POLYGONS, RLE = 0, 1, 2  # SegmentStore.kind


def take_ranges(starts: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges ``starts[i]:starts[i + 1]`` of a flat array, the ranges ``which`` (int [K])
    gathered: ``(new starts int64 [K + 1], indices into the flat array)``."""
    which = np.asarray(which, np.int64)
    lengths = starts[which + 1] - starts[which]
    new_starts = np.zeros(len(which) + 1, np.int64)
    np.cumsum(lengths, out=new_starts[1:])
    index = np.repeat(starts[which] - new_starts[:-1], lengths)
    return new_starts, index + np.arange(new_starts[-1], dtype=np.int64)


def compact_coords(coords: np.ndarray) -> tuple[np.ndarray, float]:
    """``(stored, scale)`` with ``stored / scale`` equal to ``coords`` (float64) bit for bit:
    int32 hundredths of a pixel where that holds for every coordinate, else ``coords``."""
    coords = np.asarray(coords, np.float64)
    hundredths = np.rint(coords * 100)
    if len(coords) and np.abs(hundredths).max() < 2**31 and (hundredths / 100 == coords).all():
        return hundredths.astype(np.int32), 100.0
    return coords, 1.0


class SegmentStore:
    """The segmentations of M annotations, in the order of the dataset's boxes as built.

    * ``kind`` uint8 [M]: ``NONE`` (no segmentation), ``POLYGONS`` or ``RLE``;
    * polygons: annotation m's polygons are ``part_start[m]:part_start[m + 1]``, polygon p's
      coordinates ``coords[coord_start[p]:coord_start[p + 1]] / coord_scale`` (x1, y1, x2,
      y2, ...; ``coords`` int32 with scale 100 or float64 with scale 1, ``compact_coords``);
    * RLE: annotation m's compressed ``counts`` are ``rle_bytes[rle_start[m]:rle_start[m +
      1]]``, its ``size`` ``rle_size[m]`` ([height, width]; 0, 0 for other kinds).
    """

    def __init__(
        self,
        *,
        kind: Any,
        part_start: Any,
        coord_start: Any,
        coords: Any,
        rle_start: Any,
        rle_bytes: Any,
        rle_size: Any,
        coord_scale: float = 1.0,
    ) -> None:
        self.kind = np.ascontiguousarray(kind, np.uint8)
        self.part_start = np.ascontiguousarray(part_start, np.int64)
        self.coord_start = np.ascontiguousarray(coord_start, np.int64)
        self.coords = np.ascontiguousarray(coords)
        self.coord_scale = float(coord_scale)
        if self.coords.dtype not in (np.int32, np.float64):
            raise ValueError("SegmentStore: coords must be int32 or float64")
        self.rle_start = np.ascontiguousarray(rle_start, np.int64)
        self.rle_bytes = np.ascontiguousarray(rle_bytes, np.uint8)
        self.rle_size = np.ascontiguousarray(rle_size, np.int64).reshape(-1, 2)
        m = len(self.kind)
        if {len(self.part_start) - 1, len(self.rle_start) - 1, len(self.rle_size)} != {m}:
            raise ValueError("SegmentStore: columns of different lengths")

    def __len__(self) -> int:
        return len(self.kind)

    def part_owner(self) -> np.ndarray:
        """The annotation of each polygon, int64 [P]."""
        counts = np.diff(self.part_start)
        return np.repeat(np.arange(len(self), dtype=np.int64), counts)

    def select(self, keep: np.ndarray) -> SegmentStore:
        """The annotations where ``keep`` (bool [M]) is True."""
        rows = np.flatnonzero(np.asarray(keep, bool))
        part_start, parts = take_ranges(self.part_start, rows)
        coord_start, coords = take_ranges(self.coord_start, parts)
        rle_start, rle_bytes = take_ranges(self.rle_start, rows)
        return SegmentStore(
            kind=self.kind[rows],
            part_start=part_start,
            coord_start=coord_start,
            coords=self.coords[coords],
            rle_start=rle_start,
            rle_bytes=self.rle_bytes[rle_bytes],
            rle_size=self.rle_size[rows],
            coord_scale=self.coord_scale,
        )

    def without_parts(self, drop: np.ndarray) -> SegmentStore:
        """The same annotations without the polygons where ``drop`` (bool [P]) is True."""
        kept = np.flatnonzero(~np.asarray(drop, bool))
        coord_start, coords = take_ranges(self.coord_start, kept)
        part_start = np.zeros(len(self) + 1, np.int64)
        np.cumsum(np.bincount(self.part_owner()[kept], minlength=len(self)), out=part_start[1:])
        return SegmentStore(
            kind=self.kind,
            part_start=part_start,
            coord_start=coord_start,
            coords=self.coords[coords],
            rle_start=self.rle_start,
            rle_bytes=self.rle_bytes,
            rle_size=self.rle_size,
            coord_scale=self.coord_scale,
        )

    def polygon_coords(self) -> np.ndarray:
        """All polygon coordinates as float64, as the file gave them."""
        return self.coords / self.coord_scale

    def rle_of(self, row: int, height: int, width: int) -> dict:
        """pycocotools' compressed RLE of annotation ``row`` in an image of that size: its
        polygons rasterised and merged into one mask, or its RLE."""
        if self.kind[row] == POLYGONS:
            first, end = self.part_start[row], self.part_start[row + 1]
            bounds = self.coord_start[first : end + 1].tolist()
            coords, scale = self.coords, self.coord_scale
            polygons = [coords[a:b] / scale for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        if self.kind[row] == RLE:
            counts = self.rle_bytes[self.rle_start[row] : self.rle_start[row + 1]].tobytes()
            return {"size": [height, width], "counts": counts}
        raise ValueError(f"SegmentStore: annotation {row} has no segmentation")

    def masks(self, rows: np.ndarray, height: int, width: int) -> np.ndarray:
        """The masks of annotations ``rows`` (int [K]), uint8 [K, height, width], in
        pycocotools' column order (strides ``(H * W, 1, H)``): making them row-ordered
        would cost a transposing copy as long as the decoding (a resize or flip that
        follows writes a new array anyway)."""
        rles = [self.rle_of(row, height, width) for row in np.asarray(rows).tolist()]
        if not rles:
            return np.zeros((0, height, width), np.uint8)
        return mask_utils.decode(rles).transpose(2, 0, 1)  # [H, W, K] Fortran-ordered

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        arrays = (self.kind, self.part_start, self.coord_start, self.coords)
        arrays += (self.rle_start, self.rle_bytes, self.rle_size)
        return sum(a.nbytes for a in arrays)
