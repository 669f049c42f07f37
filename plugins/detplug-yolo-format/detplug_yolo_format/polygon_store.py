"""The polygons of a whole YOLO split in three arrays (design section 9: records in compact
arrays, no Python object per label), read by ``YoloDataset.load_masks``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detplug_yolo_format.label_file import LabelRows

__all__ = ["PolygonStore"]


class PolygonStore:
    """``points`` float32 [P, 2] (normalised x, y), ``point_start`` int64 [R + 1] (row r's
    points are ``points[point_start[r]:point_start[r + 1]]``, none for a box row) and
    ``row_start`` int64 [I + 1] (image i's rows, in file order, are ``row_start[i]`` on)."""

    def __init__(self, points: np.ndarray, point_start: np.ndarray, row_start: np.ndarray):
        self.points = np.ascontiguousarray(points, np.float32).reshape(-1, 2)
        self.point_start = np.ascontiguousarray(point_start, np.int64)
        self.row_start = np.ascontiguousarray(row_start, np.int64)

    @classmethod
    def from_rows(cls, files: Sequence[LabelRows | None]) -> PolygonStore:
        """The store of each image's rows (None: no label file), image i = ``files[i]``."""
        row_counts = [0 if f is None else len(f.labels) for f in files]
        row_start = np.concatenate([[0], np.cumsum(row_counts, dtype=np.int64)])
        present = [f for f in files if f is not None]
        if not present:
            return cls(np.zeros((0, 2)), np.zeros(1, np.int64), row_start)
        sizes = np.concatenate([np.diff(f.point_start) for f in present])
        point_start = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        return cls(np.concatenate([f.points for f in present]), point_start, row_start)

    def polygons(self, image: int, rows: np.ndarray) -> list[np.ndarray | None]:
        """The polygons (float64 [P, 2]) of ``rows`` (each row's place among image
        ``image``'s rows), None for a box row."""
        found: list[np.ndarray | None] = []
        for row in (self.row_start[image] + np.asarray(rows, np.int64)).tolist():
            start, end = self.point_start[row], self.point_start[row + 1]
            found.append(self.points[start:end].astype(np.float64) if end > start else None)
        return found

    @property
    def nbytes(self) -> int:
        return self.points.nbytes + self.point_start.nbytes + self.row_start.nbytes
