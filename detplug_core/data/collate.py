"""``detection_collate``: a batch of (image, target) pairs -> (images, targets) lists."""

from __future__ import annotations

from typing import Any

import torch


def _plain(value: Any) -> Any:
    # tv_tensors (Image, BoundingBoxes) are Tensor subclasses; a plain view costs no copy and
    # keeps torch_function overrides out of the model and of inter-process pickling.
    if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor:
        return value.as_subclass(torch.Tensor)
    return value


def detection_collate(
    batch: list[tuple[Any, dict]],
) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Keep images of different sizes as a list; targets stay dicts of plain tensors."""
    images = [_plain(image) for image, _ in batch]
    targets = [{key: _plain(value) for key, value in target.items()} for _, target in batch]
    return images, targets
