"""Training targets with instance masks, checked against their images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from detplug_torchvision.targets import training_targets
from torch import Tensor

from detplug_core.errors import ConfigError


def mask_training_targets(
    targets: Sequence[dict[str, Any]],
    device: torch.device,
    num_classes: int,
    image_sizes: Sequence[tuple[int, int]],
) -> list[dict[str, Tensor]]:
    """detplug-torchvision's training targets (boxes, labels; ignored boxes dropped) plus
    ``masks`` [G, H, W] uint8 on ``device``, one per box, the ignored ones dropped alike.

    A target without ``masks`` is a ConfigError (the dataset does not load masks); masks
    whose count or size disagree with the boxes or the image are a ValueError naming the
    target (a transform that moved the boxes but not the masks)."""
    plain = training_targets(targets, device, num_classes)
    for i, (target, out) in enumerate(zip(targets, plain, strict=True)):
        if "masks" not in target:
            raise ConfigError(
                f"target {i} has no 'masks': Mask R-CNN trains on instance masks; "
                "use a dataset that loads them"
            )
        masks = torch.as_tensor(target["masks"]).as_subclass(Tensor).to(device, torch.uint8)
        boxes = torch.as_tensor(target["boxes"]).reshape(-1, 4)
        if masks.dim() != 3 or masks.shape[0] != boxes.shape[0]:
            raise ValueError(
                f"target {i}: masks must be [M, H, W] with one mask per box, got "
                f"{list(masks.shape)} for {boxes.shape[0]} boxes"
            )
        if tuple(masks.shape[-2:]) != tuple(image_sizes[i]):
            raise ValueError(
                f"target {i}: masks are {tuple(masks.shape[-2:])} but the image is "
                f"{tuple(image_sizes[i])} (H, W); every transform must move masks with the image"
            )
        ignore = target.get("ignore")
        if ignore is not None and len(ignore):
            masks = masks[~torch.as_tensor(ignore, dtype=torch.bool, device=device)]
        out["masks"] = masks
    return plain
