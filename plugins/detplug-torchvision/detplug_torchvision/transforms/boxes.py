"""Box bookkeeping over ``(image, target)`` samples: ``SanitizeBoxes``, ``DropIgnored``.

Both keep the per-box entries of the target (``labels``, ``ignore`` and any listed in
``keys``) and its instance masks (``masks``, a ``tv_tensors.Mask`` [K, H, W]) aligned
with ``boxes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from detplug_torchvision.registries import TRANSFORMS
from detplug_torchvision.transforms.target_masks import MASKS, masks_of, select_masks

__all__ = ["DropIgnored", "SanitizeBoxes", "check_masks", "select_boxes"]

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


def check_masks(image: Any, target: dict, name: str) -> None:
    """Refuse (by the transform's ``name``) masks that are not one per box at the image's
    size: torchvision's SanitizeBoundingBoxes would pass them through unchanged."""
    if MASKS in target:
        masks_of(target, name, len(target["boxes"]), F.get_size(image))


def select_boxes(target: dict, keep: torch.Tensor, keys: Sequence[str]) -> dict:
    """``target`` with only the boxes where ``keep`` (bool [N]) holds, and the same of its
    per-box tensors named in ``keys`` and of its masks."""
    boxes = target["boxes"]
    masks = target.get(MASKS)
    out = dict(target, boxes=tv_tensors.wrap(boxes.as_subclass(torch.Tensor)[keep], like=boxes))
    for key in keys:
        if key != MASKS and isinstance(out.get(key), torch.Tensor):
            out[key] = out[key][keep]
    if masks is not None:
        out[MASKS] = select_masks(masks, keep)
    return out


@TRANSFORMS.register()
class SanitizeBoxes(v2.Transform):
    """Clip boxes to the image, then drop those smaller than ``min_size`` (either side) or
    ``min_area``, with their ``labels``/``ignore`` (and ``keys``) and their ``masks``. Use
    after crops and affine transforms; a wrapper of ``v2.ClampBoundingBoxes`` +
    ``v2.SanitizeBoundingBoxes`` (which selects a ``tv_tensors.Mask`` [K, H, W] with the
    boxes, but passes one of another K through unchanged: here that is refused by name).

    With masks, ``drop_empty_masks`` (default) also drops the boxes whose mask a crop left
    empty: a box corner cut without any of its object's pixels is no object.
    """

    def __init__(
        self,
        min_size: float = 1.0,
        min_area: float = 1.0,
        keys: Sequence[str] = DEFAULT_KEYS,
        drop_empty_masks: bool = True,
    ) -> None:
        super().__init__()
        self.keys = tuple(keys)
        self.drop_empty_masks = bool(drop_empty_masks)
        self.clamp = v2.ClampBoundingBoxes()
        self.sanitize = v2.SanitizeBoundingBoxes(
            min_size=min_size, min_area=min_area, labels_getter=_PerBoxTensors(self.keys)
        )

    def forward(self, *inputs: Any) -> Any:
        image, target = split_sample(inputs, type(self).__name__)
        check_masks(image, target, type(self).__name__)
        target = dict(target, boxes=self.clamp(target["boxes"]))
        image, target = self.sanitize(image, target)
        masks = target.get(MASKS)
        if self.drop_empty_masks and masks is not None:
            filled = masks.flatten(1).bool().any(1)
            if not bool(filled.all()):
                target = select_boxes(target, filled, self.keys)
        return image, target


@TRANSFORMS.register()
class DropIgnored(v2.Transform):
    """Remove boxes marked ``ignore`` (COCO crowd, VOC difficult) with their per-box
    entries and masks; for training pipelines of models that have no use for ignore
    regions."""

    def __init__(self, keys: Sequence[str] = DEFAULT_KEYS) -> None:
        super().__init__()
        self.keys = tuple(keys)

    def forward(self, *inputs: Any) -> Any:
        image, target = split_sample(inputs, type(self).__name__)
        check_masks(image, target, type(self).__name__)
        ignore = target.get("ignore")
        if ignore is None or not bool(ignore.any()):
            return image, target
        return image, select_boxes(target, ~ignore.bool(), self.keys)
