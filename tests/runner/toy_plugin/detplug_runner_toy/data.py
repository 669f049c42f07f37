"""A tiny deterministic detection dataset and two transforms (one random)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from detplug_core.data import build_transforms
from detplug_runner_toy.registries import DATASETS, TRANSFORMS

COLOURS = ((1.0, 0.1, 0.1), (0.1, 1.0, 0.1), (0.1, 0.1, 1.0))


@DATASETS.register()
class ToyShapes(Dataset):
    """``num_images`` images of ``size`` (H, W) with 1-2 filled rectangles each; the colour
    is the class. Sample i is generated from ``seed`` and i alone."""

    def __init__(
        self,
        num_images: int = 16,
        size: tuple = (40, 48),
        num_classes: int = 2,
        seed: int = 0,
        transforms: list | None = None,
    ) -> None:
        self.num_images = num_images
        self.size = (int(size[0]), int(size[1]))
        self.classes = ["red", "green", "blue"][:num_classes]
        self.seed = seed
        self.transforms = build_transforms(transforms)

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int):
        rng = np.random.default_rng(self.seed * 100_003 + index)
        h, w = self.size
        image = torch.from_numpy(rng.uniform(0, 0.2, (3, h, w)).astype(np.float32))
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, 3))):
            bw, bh = int(rng.integers(8, w // 2)), int(rng.integers(8, h // 2))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            label = int(rng.integers(0, len(self.classes)))
            image[:, y0 : y0 + bh, x0 : x0 + bw] = torch.tensor(COLOURS[label])[:, None, None]
            boxes.append([x0, y0, x0 + bw, y0 + bh])
            labels.append(label)
        target = {
            "boxes": torch.tensor(boxes, dtype=torch.float32),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "ignore": torch.zeros(len(labels), dtype=torch.bool),
            "image_id": index,
            "orig_size": (h, w),
            "file_name": f"toy_{index}.png",
        }
        return self.transforms(image, target)


@TRANSFORMS.register()
class ToyRandomFlip:
    """Horizontal flip with probability ``p`` (draws from torch's global generator)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image, target):
        if float(torch.rand(())) < self.p:
            w = image.shape[-1]
            image = image.flip(-1)
            boxes = target["boxes"].clone()
            boxes[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
            target = {**target, "boxes": boxes}
        return image, target


@TRANSFORMS.register()
class ToyResize:
    """Scale image and boxes by ``scale`` (orig_size keeps the size before)."""

    def __init__(self, scale: float = 1.5) -> None:
        self.scale = scale

    def __call__(self, image, target):
        h, w = image.shape[-2:]
        nh, nw = round(h * self.scale), round(w * self.scale)
        image = F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
        sx, sy = nw / w, nh / h
        boxes = target["boxes"] * torch.tensor([sx, sy, sx, sy])
        return image, {**target, "boxes": boxes}
