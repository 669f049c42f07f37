"""Targets as the detectors train on them: plain tensors on the model's device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from detplug_core.errors import ConfigError


def require_targets(
    owner: str, images: Sequence[Any], targets: Sequence[Any] | None
) -> Sequence[Any]:
    """The ``targets`` of a train-mode call of detector ``owner``: one per image, else a
    ValueError naming the detector."""
    if targets is None:
        raise ValueError(f"{owner} in train mode needs targets")
    if len(targets) != len(images):
        raise ValueError(f"{owner}: got {len(images)} images but {len(targets)} targets")
    return targets


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
        if boxes.dim() != 2 or boxes.shape[-1] != 4 or labels.shape != boxes.shape[:1]:
            raise ValueError(
                f"target {i}: boxes must be [M, 4] and labels [M], got "
                f"{list(boxes.shape)} and {list(labels.shape)}"
            )
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


def matched_targets(index: Tensor, gt_boxes: Tensor, gt_labels: Tensor) -> tuple[Tensor, Tensor]:
    """The box ``[A, 4]`` and label ``[A]`` each prior is matched to, from an assigner's
    ``index`` ``[A]`` into the image's ``gt_boxes`` ``[M, 4]`` / ``gt_labels`` ``[M]``
    (negative: background, whose label is that negative value and whose box is zeros)."""
    if gt_boxes.shape[0] == 0:
        return gt_boxes.new_zeros((index.shape[0], 4)), index
    safe = index.clamp(min=0)
    return gt_boxes[safe], torch.where(index >= 0, gt_labels[safe], index)
