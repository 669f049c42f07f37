"""Normalise images and pad them into one batch, inside the model (no resizing).

The same interface as detplug-fcos's ``DetPreprocessor`` (mean, std, size_divisible,
pad_value): a generic piece that belongs in detplug-torchvision. Until it moves there this
plugin keeps its own copy, so it depends on no other detector plugin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Preprocessor(nn.Module):
    """``(image - mean) / std`` per image, then padding (``pad_value``, in normalised units)
    at the bottom and right to a common size divisible by ``size_divisible``: torchvision's
    GeneralizedRCNNTransform without its resize. ``uint8`` images are scaled by 1/255."""

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        size_divisible: int = 32,
        pad_value: float = 0.0,
    ) -> None:
        super().__init__()
        # Not in the state dict: the config owns them, and torchvision has no such keys.
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1), persistent=False)
        self.size_divisible = int(size_divisible)
        self.pad_value = float(pad_value)

    def forward(self, images: Sequence[Tensor]) -> tuple[Tensor, list[tuple[int, int]]]:
        """Images [3, H_i, W_i] in 0..1 -> batch [N, 3, H, W] and each (H_i, W_i)."""
        if len(images) == 0:
            raise ValueError("Preprocessor: got an empty list of images")
        sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        d = self.size_divisible
        height = math.ceil(max(h for h, _ in sizes) / d) * d
        width = math.ceil(max(w for _, w in sizes) / d) * d
        batch = self.mean.new_full((len(images), self.mean.shape[0], height, width), self.pad_value)
        for i, (img, (h, w)) in enumerate(zip(images, sizes, strict=True)):
            img = img.to(self.mean.device)
            img = img.float() / 255 if not img.is_floating_point() else img.float()
            torch.div(img - self.mean, self.std, out=batch[i, :, :h, :w])
        return batch, sizes
