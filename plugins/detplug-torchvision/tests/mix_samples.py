"""Painted samples for the multi-image tests: pixels tell which image and where the
objects are, so a test can check that boxes land on their pixels."""

from __future__ import annotations

import torch
from torchvision import tv_tensors

SIZES = [(20, 28), (24, 16), (18, 18), (30, 22)]  # (h, w): images of different sizes


def painted_sample(index: int, height: int, width: int, boxes: list, value: int = 255):
    """uint8 RGB: channel 1 is ``40 * (index + 1)`` everywhere (which image), channel 0 is
    ``value`` inside the boxes (where the objects are), 0 elsewhere; label = ``index``."""
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    image[1] = 40 * (index + 1) % 256
    for x1, y1, x2, y2 in boxes:
        image[0, y1:y2, x1:x2] = value
    n = len(boxes)
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            format="XYXY",
            canvas_size=(height, width),
        ),
        "labels": torch.full((n,), index, dtype=torch.int64),
        "ignore": torch.full((n,), index == 2, dtype=torch.bool),
        "image_id": index,
        "orig_size": (height, width),
        "file_name": f"{index}.png",
    }
    return tv_tensors.Image(image), target
