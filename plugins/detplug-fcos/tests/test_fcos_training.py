"""The small FCOS learns: on a few synthetic images the loss falls and it fits them."""

from __future__ import annotations

import torch
from detplug_torchvision.testing.synthetic import coco_metrics, fit, rectangles_dataset
from fcos_testutils import build_from_config


def test_small_fcos_fits_rectangles() -> None:
    torch.manual_seed(0)
    images, targets = rectangles_dataset(num_images=4, size=96, max_side=96 * 9 // 16)
    model = build_from_config("models/fcos_r18_fpn_small.yaml", num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first, last, ap50, step = fit(
        model, optimizer, images, targets, lambda m: coco_metrics(m, images, targets)["AP50"], 0.9
    )
    assert last < 0.5 * first
    assert ap50 > 0.9, f"AP@0.5 on the training images {ap50:.3f} after {step} steps"
