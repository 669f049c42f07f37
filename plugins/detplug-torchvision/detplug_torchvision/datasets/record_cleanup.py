"""The policies every file-based dataset applies to its records, on whole columns at once:
missing image files, boxes clipped to the image, empty boxes dropped, ``filter_empty``.

What is fixed or skipped is counted in the dataset's :class:`CleanupReport` exactly as a
record-by-record pass would count it (same counts, same first examples, reasons in the
order that pass would first meet them).
"""

from __future__ import annotations

import numpy as np

from detplug_core.errors import DataError
from detplug_torchvision.datasets.records import RecordStore
from detplug_torchvision.datasets.report import CleanupReport

__all__ = ["clean_records"]

MISSING = "images skipped: file missing"
CLIPPED = "boxes clipped to the image"
DROPPED = "empty boxes dropped (zero area or outside the image)"
FILTERED = "images without boxes filtered out"


def _clip(store: RecordStore) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clipped boxes, changed per box, keep per box), as ``report.clip_boxes`` per image."""
    owner = store.box_owner()
    heights = store.heights[owner].astype(np.float32)
    widths = store.widths[owner].astype(np.float32)
    limits = np.stack([widths, heights, widths, heights], axis=1)
    boxes = store.boxes
    clipped = np.clip(boxes, np.float32(0.0), limits).astype(np.float32)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    changed = (np.abs(clipped - boxes).max(axis=1, initial=0.0) > 0) & keep
    return clipped, changed, keep


def clean_records(
    store: RecordStore,
    report: CleanupReport,
    *,
    is_file: np.ndarray,
    filter_empty: bool,
    on_missing_image: str,
) -> tuple[RecordStore, np.ndarray]:
    """``store`` without missing images (``skip``; ``error``: a DataError naming the first),
    with boxes clipped and empty ones dropped, without images left without a non-ignored
    box when ``filter_empty``; and the indices (int64 [K]) of the records kept."""
    missing = ~np.asarray(is_file, bool)
    if missing.any() and on_missing_image == "error":
        i = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{report.name}: image file '{store.paths[i]}' does not exist "
            f"(image_id {int(store.image_ids[i])}, annotations: {store.sources[i]}); "
            "set on_missing_image: skip to leave such images out"
        )
    clipped, changed, keep = _clip(store)
    owner = store.box_owner()
    present = ~missing[owner]
    changed &= present
    dropped = ~keep & present
    n = len(store)
    usable = np.bincount(owner[keep & ~store.ignore], minlength=n) > 0
    filtered = ~missing & ~usable if filter_empty else np.zeros(n, bool)

    # (first record, place within a record's pass, reason, example, count, dirty)
    events: list[tuple[int, int, str, str, int, bool]] = []
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        events.append((first, 0, MISSING, store.paths[first], int(missing.sum()), True))
    if changed.any():
        first = int(owner[np.flatnonzero(changed)[0]])
        events.append((first, 1, CLIPPED, store.sources[first], int(changed.sum()), True))
    if dropped.any():
        box = int(np.flatnonzero(dropped)[0])
        first = int(owner[box])
        example = f"{store.sources[first]} box {store.boxes[box].tolist()}"
        events.append((first, 2, DROPPED, example, int(dropped.sum()), True))
    if filtered.any():
        first = int(np.flatnonzero(filtered)[0])
        events.append((first, 3, FILTERED, store.file_names[first], int(filtered.sum()), False))
    for _, _, reason, example, count, dirty in sorted(events):
        report.add(reason, example, count, dirty=dirty)

    cleaned = store.with_boxes(clipped)
    kept = ~missing & ~filtered
    if not kept.all() or not keep.all():
        cleaned = cleaned.select(kept, keep)
    return cleaned, np.flatnonzero(kept)
