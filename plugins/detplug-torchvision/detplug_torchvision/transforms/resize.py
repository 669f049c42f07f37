"""``ResizeShortLong``: keep the aspect ratio, short side to a target, long side capped.

The output size is torchvision's ``GeneralizedRCNNTransform`` size exactly: the scale is
computed in double precision and each side is floored, as ``F.interpolate(scale_factor=...,
recompute_scale_factor=True)`` does there. The pixels differ by default (this transform
resizes the uint8 image with antialiasing, in the DataLoader workers, which is faster and
smoother); ``match_torchvision: true`` resizes the image as float 0..1, bilinear, without
antialiasing, so that after ``DetPreprocessor``'s normalisation the batch equals
torchvision's within 1e-5 (resize and normalisation are both linear).
"""

from __future__ import annotations

import math
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
    side exceed ``long``, then scale so the long side is ``long`` (classic 800/1333).

    As torchvision computes it (eager mode): the scale in double precision, each side
    ``floor(side * scale)``."""
    scale = float(short) / min(height, width)
    if long is not None:
        scale = min(scale, float(long) / max(height, width))
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


@TRANSFORMS.register()
class ResizeShortLong(v2.Transform):
    """Resize keeping the aspect ratio: short side to ``short`` (an int, or a list to pick
    from uniformly at random per sample: multi-scale training), long side at most ``long``.

    ``{type: ResizeShortLong, short: 800, long: 1333}``; boxes and masks move with the image.
    ``match_torchvision``: resize as ``GeneralizedRCNNTransform`` does (float image out,
    bilinear, no antialiasing; ``interpolation``/``antialias`` must stay at their defaults).
    """

    def __init__(
        self,
        short: int | Sequence[int] = 800,
        long: int | None = 1333,
        interpolation: str = "bilinear",
        antialias: bool = True,
        match_torchvision: bool = False,
    ) -> None:
        super().__init__()
        if match_torchvision and (interpolation != "bilinear" or antialias is not True):
            raise BuildError(
                "ResizeShortLong: match_torchvision resizes bilinear without antialiasing; "
                "leave interpolation and antialias unset"
            )
        self.match_torchvision = bool(match_torchvision)
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
        if self.match_torchvision and isinstance(inpt, tv_tensors.Image):
            return _resize_like_torchvision(inpt, params["size"])
        return F.resize(
            inpt, params["size"], interpolation=self.interpolation, antialias=self.antialias
        )


def _resize_like_torchvision(image: tv_tensors.Image, size: list[int]) -> tv_tensors.Image:
    """GeneralizedRCNNTransform's resize: float 0..1, bilinear, align_corners=False."""
    data = image.as_subclass(torch.Tensor)
    if not data.is_floating_point():
        data = data.to(torch.float32).div_(255)
    out = torch.nn.functional.interpolate(
        data[None], size=size, mode="bilinear", align_corners=False
    )[0]
    return tv_tensors.wrap(out, like=image)


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
