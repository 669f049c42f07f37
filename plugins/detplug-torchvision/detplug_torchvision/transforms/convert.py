"""``ToFloatImage``: the last step of a pipeline, uint8 image -> float32 0..1 plain tensor."""

from __future__ import annotations

from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from detplug_torchvision.registries import TRANSFORMS

__all__ = ["ToFloatImage"]


@TRANSFORMS.register()
class ToFloatImage(v2.Transform):
    """Image (``tv_tensors.Image``, plain tensor or PIL) to a plain float32 tensor [C,H,W]
    in 0..1: uint8 / 255, uint16 / 65535, floats unchanged. Boxes and labels pass through."""

    _transformed_types = (tv_tensors.Image, PIL.Image.Image, torch.Tensor)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.TVTensor) and not isinstance(inpt, tv_tensors.Image):
            return inpt  # boxes, masks, ...
        if isinstance(inpt, PIL.Image.Image):
            inpt = F.pil_to_tensor(inpt)
        image = inpt.as_subclass(torch.Tensor)
        if image.is_floating_point():
            return image.to(torch.float32)
        # Convert, then scale in place: measured 4x faster than the type-promoting
        # image.mul(scale) (which skips the vectorised uint8 -> float path).
        return image.to(torch.float32).mul_(1.0 / torch.iinfo(image.dtype).max)
