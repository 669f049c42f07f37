"""The small FCOS learns: on a few synthetic images the loss falls and it fits them."""

from __future__ import annotations

import torch
from fcos_testutils import ap50, build_from_config, rectangles_dataset


def test_small_fcos_fits_rectangles() -> None:
    torch.manual_seed(0)
    images, targets = rectangles_dataset(num_images=4, size=96)
    model = build_from_config("models/fcos_r18_fpn_small.yaml", num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first_loss, score = None, 0.0
    for step in range(1, 101):
        model.train()
        losses = model(images, targets)
        loss = sum(losses.values())
        first_loss = first_loss if first_loss is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 40 and step % 10 == 0:
            model.eval()
            with torch.no_grad():
                score = ap50(model(images), targets, num_classes=3)
            if score > 0.9:
                break
    assert loss.item() < 0.5 * first_loss
    assert score > 0.9, f"AP@0.5 on the training images {score:.3f} after {step} steps"
