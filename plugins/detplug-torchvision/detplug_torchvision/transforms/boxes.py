"""Box bookkeeping over ``(image, target)`` samples: ``SanitizeBoxes``, ``DropIgnored``.

Both keep the per-box entries of the target (``labels``, ``ignore`` and any listed in
``keys``) aligned with ``boxes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from detplug_torchvision.registries import TRANSFORMS

__all__ = ["DropIgnored", "SanitizeBoxes"]

DEFAULT_KEYS = ("labels", "ignore")


def split_sample(inputs: tuple[Any, ...], name: str) -> tuple[Any, dict]:
    """``(image, target)`` from ``t(image, target)`` or ``t((image, target))``."""
    sample = inputs if len(inputs) > 1 else inputs[0]
    if (
        not isinstance(sample, tuple | list)
        or len(sample) != 2
        or not isinstance(sample[1], dict)
        or "boxes" not in sample[1]
    ):
        raise TypeError(f"{name} expects (image, target) with target['boxes'], got {sample!r}")
    return sample[0], sample[1]


class _PerBoxTensors:
    """labels_getter for v2.SanitizeBoundingBoxes: the target's per-box tensors."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)

    def __call__(self, sample: Any) -> tuple[torch.Tensor, ...]:
        target = sample[1]
        return tuple(target[k] for k in self.keys if isinstance(target.get(k), torch.Tensor))


@TRANSFORMS.register()
class SanitizeBoxes(v2.Transform):
    """Clip boxes to the image, then drop those smaller than ``min_size`` (either side) or
    ``min_area``, with their ``labels``/``ignore`` (and ``keys``). Use after crops and
    affine transforms; a wrapper of ``v2.ClampBoundingBoxes`` + ``v2.SanitizeBoundingBoxes``.
    """

    def __init__(
        self, min_size: float = 1.0, min_area: float = 1.0, keys: Sequence[str] = DEFAULT_KEYS
    ) -> None:
        super().__init__()
        self.keys = tuple(keys)
        self.clamp = v2.ClampBoundingBoxes()
        self.sanitize = v2.SanitizeBoundingBoxes(
            min_size=min_size, min_area=min_area, labels_getter=_PerBoxTensors(self.keys)
        )

    def forward(self, *inputs: Any) -> Any:
        image, target = split_sample(inputs, type(self).__name__)
        target = dict(target, boxes=self.clamp(target["boxes"]))
        return self.sanitize(image, target)


@TRANSFORMS.register()
class DropIgnored(v2.Transform):
    """Remove boxes marked ``ignore`` (COCO crowd, VOC difficult) with their per-box
    entries; for training pipelines of models that have no use for ignore regions."""

    def __init__(self, keys: Sequence[str] = DEFAULT_KEYS) -> None:
        super().__init__()
        self.keys = tuple(keys)

    def forward(self, *inputs: Any) -> Any:
        image, target = split_sample(inputs, type(self).__name__)
        ignore = target.get("ignore")
        if ignore is None or not bool(ignore.any()):
            return image, target
        keep = ~ignore.bool()
        boxes = target["boxes"]
        target = dict(
            target, boxes=tv_tensors.wrap(boxes.as_subclass(torch.Tensor)[keep], like=boxes)
        )
        for key in self.keys:
            if isinstance(target.get(key), torch.Tensor):
                target[key] = target[key][keep]
        return image, target
