"""One warning before training when the photos are much larger than what the recipe trains
on (a recipe made for 128-px images given 4000x3000 phone photos through ``--data``), or
when they train at their full, large size: both slow or spoil a run without an error."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MUCH_LARGER", "photo_size_warning"]

MUCH_LARGER = 3.0  # photos this many times the trained size (long sides) are "much larger"
FULL_SIZE_SLOW = 1600  # trained long side (px) from which full-size training is "slow"
_SAMPLE = 1000  # image sizes read (evenly spaced) on large data sets


def _photo_long_sides(leaves: list[Any]) -> np.ndarray:
    sides = []
    for leaf in leaves:
        n = len(leaf)
        for i in np.unique(np.linspace(0, n - 1, min(n, _SAMPLE)).astype(int)) if n else []:
            sides.append(max(leaf.get_image_size(int(i))))
    return np.asarray(sides, np.float64)


def photo_size_warning(dataset: Any, leaves: list[Any]) -> str | None:
    """The warning for ``dataset`` (the training dataset, transforms included) whose parsed
    leaves are ``leaves``, or None. Reads one sample through the pipeline for the size the
    recipe trains at."""
    from detplug_core.data.samplers import SeededDataset

    while isinstance(dataset, SeededDataset):  # the runner's wrapper: keys (index, seed)
        dataset = dataset.dataset
    sides = _photo_long_sides(leaves)
    if not len(sides) or not len(dataset):
        return None
    image = dataset[0][0]
    trained = max(int(image.shape[-1]), int(image.shape[-2]))
    median, largest = float(np.median(sides)), float(sides.max())
    if median >= MUCH_LARGER * trained:
        return (
            f"the training images are much larger than the size the recipe trains at: long "
            f"side {median:.0f} px (median; up to {largest:.0f}) resized to {trained} px, "
            f"{median / trained:.0f}x smaller, so small objects may vanish; train at another "
            "size with --imgsz N (docs/data.md)"
        )
    if trained >= FULL_SIZE_SLOW:
        return (
            f"training at {trained} px (long side; the images are up to {largest:.0f} px): "
            "slow, and the recipe may not be made for it; resize with --imgsz N or a resize "
            "transform (docs/data.md)"
        )
    return None
