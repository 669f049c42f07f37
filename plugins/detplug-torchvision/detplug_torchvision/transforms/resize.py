"""``ResizeShortLong``: keep the aspect ratio, short side to a target, long side capped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from detplug_core.errors import BuildError
from detplug_torchvision.registries import TRANSFORMS

__all__ = ["ResizeShortLong", "short_long_size"]


def short_long_size(height: int, width: int, short: int, long: int | None) -> tuple[int, int]:
    """``(new_h, new_w)``: scale so the short side is ``short`` unless that makes the long
    side exceed ``long``, then scale so the long side is ``long`` (classic 800/1333)."""
    scale = short / min(height, width)
    if long is not None:
        scale = min(scale, long / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


@TRANSFORMS.register()
class ResizeShortLong(v2.Transform):
    """Resize keeping the aspect ratio: short side to ``short`` (an int, or a list to pick
    from uniformly at random per sample: multi-scale training), long side at most ``long``.

    ``{type: ResizeShortLong, short: 800, long: 1333}``; boxes and masks move with the image.
    """

    def __init__(
        self,
        short: int | Sequence[int] = 800,
        long: int | None = 1333,
        interpolation: str = "bilinear",
        antialias: bool = True,
    ) -> None:
        super().__init__()
        shorts = list(short) if isinstance(short, list | tuple) else [short]
        if not shorts or any(
            isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in shorts
        ):
            raise BuildError(f"ResizeShortLong: short must be a positive int or list, got {short}")
        if long is not None and (not isinstance(long, int) or long <= 0):
            raise BuildError(f"ResizeShortLong: long must be a positive int or null, got {long}")
        self.short = shorts
        self.long = long
        self.interpolation = v2.InterpolationMode(interpolation)
        self.antialias = antialias

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = _query_size(flat_inputs)
        index = int(torch.randint(len(self.short), ())) if len(self.short) > 1 else 0
        return {"size": list(short_long_size(height, width, self.short[index], self.long))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return F.resize(
            inpt, params["size"], interpolation=self.interpolation, antialias=self.antialias
        )


def _query_size(flat_inputs: list[Any]) -> tuple[int, int]:
    for inpt in flat_inputs:
        if isinstance(inpt, tv_tensors.Image | tv_tensors.Video | PIL.Image.Image):
            return tuple(F.get_size(inpt))
    for inpt in flat_inputs:
        if isinstance(inpt, torch.Tensor) and not isinstance(inpt, tv_tensors.TVTensor):
            return tuple(F.get_size(inpt))
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return tuple(inpt.canvas_size)
    raise TypeError("ResizeShortLong: no image, video or bounding boxes in the sample")
