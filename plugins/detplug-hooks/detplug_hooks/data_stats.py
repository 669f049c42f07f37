"""What a detection dataset holds, from its parsed records (no decoding), and the image scan.

``collect_stats`` reads ``dataset.records`` (detplug's file-based datasets) through the
wrappers (Repeat/Concat/Seeded) and ``dataset.report`` (what the loader already fixed or
skipped at construction). ``scan_images`` then checks every image the way the loaders do:
the datasets' bad-image scan (truncated and corrupt files; every file decoded with
``decode=True``) and the header size against the annotations. ``scan_masks`` loads every
instance mask of a dataset built with ``with_masks: true`` as the loader would (mask sizes,
empty masks, masks that cannot be loaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detplug_core.errors import DataError

__all__ = [
    "SplitStats",
    "collect_stats",
    "format_stats",
    "histogram_line",
    "parsed_leaves",
    "scan_images",
    "scan_masks",
]

SIZE_BINS = (0, 8, 16, 32, 64, 96, 128, 256, 512, float("inf"))
ASPECT_BINS = (0, 1 / 4, 1 / 2, 1 / 1.25, 1.25, 2, 4, float("inf"))


@dataclass
class MaskStats:
    """The instance masks of one split, loaded: each mask's area in pixels and the masks
    without a pixel (``"<sample>, box <k>"``, crowd regions left out)."""

    areas: np.ndarray  # int64 [M]
    empty: list[str]


@dataclass
class SplitStats:
    """Counts of one split; ``boxes`` are xyxy pixels and ``image_sizes`` (h, w) per box."""

    name: str
    classes: list[str]
    num_images: int
    boxes: np.ndarray  # float32 [N, 4]
    labels: np.ndarray  # int64 [N]
    image_sizes: np.ndarray  # float32 [N, 2] (h, w) of each box's image
    empty_images: list[str]
    cleanup: dict[str, tuple[int, str]]  # reason -> (count, first example)
    problems: list[str] = field(default_factory=list)  # from scan_images and scan_masks
    with_masks: bool = False  # the dataset loads instance masks (with_masks: true)
    masks: MaskStats | None = None  # from scan_masks

    @property
    def per_class(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()


def _leaves(dataset: Any) -> list[Any]:
    if hasattr(dataset, "records"):
        return [dataset]
    inner = getattr(dataset, "datasets", None) or [getattr(dataset, "dataset", None)]
    found = [leaf for d in inner if d is not None for leaf in _leaves(d)]
    if not found:
        raise DataError(
            f"{type(dataset).__name__} has no parsed 'records' (not a detplug file-based "
            "dataset); detplug data check reads DetectionDataset subclasses"
        )
    return found


def parsed_leaves(dataset: Any) -> list[Any]:
    """The datasets with parsed ``records`` inside ``dataset``'s wrappers (a DataError when
    there are none)."""
    return _leaves(dataset)


def collect_stats(dataset: Any, name: str) -> SplitStats:
    """Counts of ``dataset`` (leaves of wrappers are concatenated)."""
    leaves = _leaves(dataset)
    records = [r for leaf in leaves for r in leaf.records]
    boxes = [r.boxes for r in records if len(r.boxes)]
    sizes = [np.tile([r.height, r.width], (len(r.boxes), 1)) for r in records if len(r.boxes)]
    cleanup: dict[str, tuple[int, str]] = {}
    for leaf in leaves:
        report = getattr(leaf, "report", None)
        for reason, entry in getattr(report, "counts", {}).items():
            old = cleanup.get(reason, (0, entry.first))
            cleanup[reason] = (old[0] + entry.count, old[1])
    return SplitStats(
        name=name,
        classes=list(leaves[0].classes),
        num_images=len(records),
        boxes=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
        labels=np.concatenate([r.labels for r in records]).astype(np.int64)
        if records
        else np.zeros(0, np.int64),
        image_sizes=np.concatenate(sizes).astype(np.float32)
        if sizes
        else np.zeros((0, 2), np.float32),
        empty_images=[r.path for r in records if not len(r.boxes)],
        cleanup=cleanup,
        with_masks=any(leaf.with_masks for leaf in leaves),
    )


def scan_masks(dataset: Any) -> tuple[MaskStats, list[str]]:
    """Every instance mask of the leaves built ``with_masks``, loaded by the dataset's own
    ``load_masks``: their areas, the empty ones, and one line per image whose masks the
    loader would refuse (a load error, or not one [H, W] mask per box)."""
    import torch

    areas, empty, problems = [], [], []
    for leaf in _leaves(dataset):
        if not leaf.with_masks:
            continue
        for i, rec in enumerate(leaf.records):
            try:
                masks = torch.as_tensor(leaf.load_masks(i, rec))
            except DataError as err:
                problems.append(str(err))
                continue
            expected = (len(rec.boxes), rec.height, rec.width)
            if tuple(masks.shape) != expected:
                problems.append(
                    f"{leaf.describe(i)}: masks of shape {list(masks.shape)}, expected "
                    f"{list(expected)} (one per box, the image's height and width)"
                )
                continue
            area = masks.flatten(1).ne(0).sum(1).numpy() if len(masks) else np.zeros(0, int)
            areas.append(area)
            empty += [
                f"{leaf.describe(i)}, box {k}"
                for k in np.flatnonzero((area == 0) & ~np.asarray(rec.ignore, dtype=bool))
            ]
    found = np.concatenate(areas).astype(np.int64) if areas else np.zeros(0, np.int64)
    return MaskStats(found, empty), problems


def scan_images(dataset: Any, decode: bool = False) -> list[str]:
    """One line per image the loaders would refuse: a file that cannot be decoded (the
    datasets' own bad-image scan, :func:`~detplug_torchvision.datasets.scan.find_bad_images`,
    with its cache: a truncated JPEG is found by default), or whose size differs from the
    annotations'. ``decode=True`` decodes every file (damage inside complete files too)."""
    from detplug_torchvision.datasets import read_image_size
    from detplug_torchvision.datasets.scan import find_bad_images

    problems = []
    for leaf in _leaves(dataset):
        records = leaf.records
        bad = find_bad_images(
            [r.path for r in records],
            decode=decode,
            exif_orientation=leaf.exif_orientation,
        )
        for i, rec in enumerate(records):
            if i in bad:
                problems.append(f"{bad[i]} ({leaf.describe(i)})")
                continue
            try:
                height, width = read_image_size(rec.path, leaf.describe(i))
            except DataError as err:
                problems.append(str(err))
                continue
            if (height, width) != (rec.height, rec.width):
                problems.append(
                    f"image file '{rec.path}' ({leaf.describe(i)}) is {width}x{height} but its "
                    f"annotations ({rec.source}) say {rec.width}x{rec.height}"
                )
    return problems


def histogram_line(values: np.ndarray, bins: Sequence[float], fmt: str = "{:g}") -> str:
    """``[0,8): 3  [8,16): 10 ...`` with empty bins left out."""
    counts, _ = np.histogram(values, bins=np.asarray(bins, dtype=np.float64))
    parts = []
    for lo, hi, n in zip(bins[:-1], bins[1:], counts, strict=True):
        if n:
            upper = "inf" if hi == float("inf") else fmt.format(hi)
            parts.append(f"[{fmt.format(lo)},{upper}): {n}")
    return "  ".join(parts) or "(no boxes)"


def format_stats(stats: SplitStats) -> str:
    """The text report of one split."""
    w = stats.boxes[:, 2] - stats.boxes[:, 0]
    h = stats.boxes[:, 3] - stats.boxes[:, 1]
    lines = [
        f"[{stats.name}] {stats.num_images} images, {len(stats.boxes)} boxes, "
        f"{len(stats.empty_images)} images without boxes",
        "  boxes per class: "
        + ", ".join(f"{c}: {n}" for c, n in zip(stats.classes, stats.per_class, strict=True)),
        "  box size sqrt(w*h) px: " + histogram_line(np.sqrt(w * h), SIZE_BINS),
        "  box aspect w/h: " + histogram_line(w / np.maximum(h, 1e-6), ASPECT_BINS, "{:.2f}"),
    ]
    if stats.masks is not None:
        lines.append(
            f"  masks: {len(stats.masks.areas)}, {len(stats.masks.empty)} empty"
            + (f" (first: {stats.masks.empty[0]})" if stats.masks.empty else "")
        )
        lines.append(
            "  mask size sqrt(area) px: " + histogram_line(np.sqrt(stats.masks.areas), SIZE_BINS)
        )
    elif stats.with_masks:
        lines.append("  masks: one per box, not loaded (--decode loads and checks every one)")
    for reason, (count, first) in stats.cleanup.items():
        lines.append(f"  loader: {count} {reason} (first: {first})")
    for problem in stats.problems:
        lines.append(f"  refused when loading: {problem}")
    return "\n".join(lines)
