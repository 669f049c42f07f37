"""Counting what a dataset had to fix or skip, and logging it as one summary line."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger("detplug.data")

__all__ = ["CleanupReport", "clip_boxes", "logger"]


@dataclass
class _Count:
    count: int = 0
    first: str = ""


@dataclass
class CleanupReport:
    """Counts per reason, with the first example of each, for one dataset.

    Reasons added with ``dirty=True`` (data problems) make the summary a warning; the others
    (``filter_empty``, classes left out on purpose) are logged at INFO.
    """

    name: str
    counts: dict[str, _Count] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def add(self, reason: str, example: str, count: int = 1, *, dirty: bool = True) -> None:
        if count <= 0:
            return
        entry = self.counts.setdefault(reason, _Count(first=example))
        entry.count += count
        if dirty:
            self.dirty.add(reason)

    def __getitem__(self, reason: str) -> int:
        entry = self.counts.get(reason)
        return entry.count if entry else 0

    def summary(self, num_images: int, num_boxes: int) -> str:
        parts = [f"{c.count} {reason} (first: {c.first})" for reason, c in self.counts.items()]
        line = f"{self.name}: {num_images} images, {num_boxes} boxes"
        return line + ("; " + "; ".join(parts) if parts else "")

    def log(self, num_images: int, num_boxes: int) -> None:
        """Log the summary once: WARNING when data had to be fixed or skipped, else INFO."""
        level = logging.WARNING if self.dirty else logging.INFO
        logger.log(level, "%s", self.summary(num_images, num_boxes))


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Clip xyxy ``boxes`` to the image; return (clipped, number changed, keep mask).

    ``keep`` is False for boxes with zero area after clipping (degenerate or outside).
    """
    limits = np.array([width, height, width, height], dtype=np.float32)
    clipped = np.clip(boxes, 0.0, limits).astype(np.float32)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    changed = int((np.abs(clipped - boxes).max(axis=1) > 0)[keep].sum()) if len(boxes) else 0
    return clipped, changed, keep
