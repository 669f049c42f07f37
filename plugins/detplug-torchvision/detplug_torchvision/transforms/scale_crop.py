"""Scale jitter, crop and pad steps of YOLO-style pipelines (RTMDet, YOLOX):
``RandomScale``, ``RandomCropUpTo``, ``PadTo``. Boxes move with the image (v2 kernels);
follow a crop with ``SanitizeBoxes`` to drop the boxes it emptied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from detplug_core.errors import BuildError
from detplug_torchvision.registries import TRANSFORMS
from detplug_torchvision.transforms.resize import _query_size

__all__ = ["PadTo", "RandomCropUpTo", "RandomScale", "fill_for", "pair"]


def pair(name: str, key: str, value: int | Sequence[int]) -> tuple[int, int]:
    """``(h, w)`` from an int (a square) or ``[h, w]``, both positive ints."""
    values = list(value) if isinstance(value, list | tuple) else [value, value]
    if len(values) != 2 or any(
        isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values
    ):
        raise BuildError(f"{name}: {key} must be a positive int or [height, width], got {value!r}")
    return values[0], values[1]


def check_range(name: str, key: str, value: Sequence[float], low: float = 0.0) -> tuple:
    """``[a, b]`` with ``low < a <= b``."""
    values = list(value) if isinstance(value, list | tuple) else []
    if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
        raise BuildError(f"{name}: {key} must be [low, high], got {value!r}")
    if not low < values[0] <= values[1]:
        raise BuildError(f"{name}: {key} must satisfy {low} < low <= high, got {value!r}")
    return float(values[0]), float(values[1])


def fill_for(image: torch.Tensor, fill: float) -> float:
    """``fill`` is given in 0..255 units; float images (0..1) get ``fill / 255``."""
    return fill / 255.0 if image.is_floating_point() else fill


@TRANSFORMS.register()
class RandomScale(v2.Transform):
    """Resize keeping the aspect ratio so the image fits ``scale`` (an int: a square, or
    ``[h, w]``) times a ratio drawn uniformly from ``ratio_range`` per sample: MMDetection's
    ``RandomResize(scale, ratio_range, keep_ratio=True)`` for a square ``scale``."""

    def __init__(
        self,
        scale: int | Sequence[int] = 640,
        ratio_range: Sequence[float] = (0.1, 2.0),
        interpolation: str = "bilinear",
        antialias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.scale = pair(name, "scale", scale)
        self.ratio_range = check_range(name, "ratio_range", ratio_range)
        self.interpolation = v2.InterpolationMode(interpolation)
        self.antialias = antialias

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = _query_size(flat_inputs)
        low, high = self.ratio_range
        ratio = low + (high - low) * float(torch.rand(()))
        factor = min(self.scale[0] * ratio / height, self.scale[1] * ratio / width)
        size = [max(1, round(height * factor)), max(1, round(width * factor))]
        return {"size": size}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return F.resize(
            inpt, params["size"], interpolation=self.interpolation, antialias=self.antialias
        )


@TRANSFORMS.register()
class RandomCropUpTo(v2.Transform):
    """Crop a random window of ``min(size, image side)`` on each axis (never pads):
    MMDetection's ``RandomCrop(crop_size)``. Boxes are shifted and clipped; put
    ``SanitizeBoxes`` after it to drop those left empty."""

    def __init__(self, size: int | Sequence[int] = 640) -> None:
        super().__init__()
        self.size = pair(type(self).__name__, "size", size)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = _query_size(flat_inputs)
        crop_h, crop_w = min(self.size[0], height), min(self.size[1], width)
        top = int(torch.randint(height - crop_h + 1, ()))
        left = int(torch.randint(width - crop_w + 1, ()))
        return {"top": top, "left": left, "height": crop_h, "width": crop_w}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return F.crop(inpt, **params)


@TRANSFORMS.register()
class PadTo(v2.Transform):
    """Pad the bottom and right to at least ``size`` (int or ``[h, w]``) with ``fill``
    (0..255 units; float images get ``fill / 255``): MMDetection's ``Pad(size=...)``.
    Boxes keep their coordinates; their canvas grows."""

    def __init__(self, size: int | Sequence[int] = 640, fill: float = 114) -> None:
        super().__init__()
        self.size = pair(type(self).__name__, "size", size)
        if isinstance(fill, bool) or not isinstance(fill, int | float):
            raise BuildError(f"PadTo: fill must be a number (0..255 units), got {fill!r}")
        self.fill = float(fill)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = _query_size(flat_inputs)
        return {"padding": [0, 0, max(0, self.size[1] - width), max(0, self.size[0] - height)]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not any(params["padding"]):
            return inpt
        fill = 0.0
        plain = isinstance(inpt, torch.Tensor) and not isinstance(inpt, tv_tensors.TVTensor)
        if plain or isinstance(inpt, tv_tensors.Image):
            fill = fill_for(inpt, self.fill)
        return F.pad(inpt, params["padding"], fill=fill)
