"""Targets as the detectors train on them: plain tensors on the model's device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from detplug_core.errors import ConfigError


def training_targets(
    targets: Sequence[dict[str, Any]], device: torch.device, num_classes: int
) -> list[dict]:
    """Plain tensors on ``device``; boxes flagged ``ignore`` (crowd, difficult) dropped.
    A label outside ``0..num_classes-1`` is an error naming the image."""
    out = []
    for i, t in enumerate(targets):
        boxes = torch.as_tensor(t["boxes"]).as_subclass(Tensor).to(device, torch.float32)
        if boxes.numel() == 0:  # also accept [0] for an image without boxes
            boxes = boxes.reshape(0, 4)
        labels = torch.as_tensor(t["labels"]).to(device, torch.int64)
        ignore = t.get("ignore")
        if ignore is not None and len(ignore):
            keep = ~torch.as_tensor(ignore, dtype=torch.bool, device=device)
            boxes, labels = boxes[keep], labels[keep]
        if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
            raise ConfigError(
                f"target {i}: labels {sorted(set(labels.tolist()))} outside 0..{num_classes - 1}; "
                "does num_classes match the dataset's classes?"
            )
        out.append({"boxes": boxes, "labels": labels})
    return out
