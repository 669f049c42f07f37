"""Helpers shared by the RTMDet tests: models from the packaged configs, synthetic data."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detplug_core import MODELS
from detplug_core.config import load_config


def build_from_config(name: str, model: dict | None = None, **head: object) -> nn.Module:
    """Build the ``model`` of the packaged config ``rtmdet::name``, with ``head`` keys and
    top-level ``model`` keys overridden."""
    cfg = load_config(f"rtmdet::{name}")["model"]
    cfg["head"].update(head)
    cfg.update(model or {})
    return MODELS.build(cfg)


COLOURS = ((0.9, 0.1, 0.1), (0.1, 0.8, 0.1), (0.1, 0.2, 0.9))  # class 0, 1, 2


def rectangles_dataset(
    num_images: int, size: int = 96, seed: int = 0
) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Images with 1-3 filled rectangles in one of three colours (the class) on a grey,
    noisy background; boxes size/8 .. size/2 wide."""
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for _ in range(num_images):
        img = 0.45 + 0.1 * torch.rand(3, size, size, generator=g)
        boxes, labels = [], []
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            w, h = (int(v) for v in torch.randint(size // 8, size // 2, (2,), generator=g))
            x0 = int(torch.randint(0, size - w, (1,), generator=g))
            y0 = int(torch.randint(0, size - h, (1,), generator=g))
            label = int(torch.randint(0, 3, (1,), generator=g))
            img[:, y0 : y0 + h, x0 : x0 + w] = torch.tensor(COLOURS[label])[:, None, None]
            boxes.append([x0, y0, x0 + w, y0 + h])
            labels.append(label)
        images.append(img)
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32),
                "labels": torch.tensor(labels),
                "image_id": len(targets),
            }
        )
    return images, targets
