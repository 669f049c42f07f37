"""Transforms that combine several samples: ``Mosaic`` and ``MixUp`` (YOLOX, RTMDet).

They need samples besides the one being loaded, so they run only inside
``MultiImageMixDataset`` (detplug_torchvision.datasets.mix), which draws the partners'
indices with :meth:`MultiImageTransform.choose_partners` and loads them from its inner
dataset (with that dataset's own per-sample transforms). Randomness comes from torch's
generator, which the runner seeds per sample in DataLoader workers and saves in
checkpoints otherwise, so the partners and the layout are reproducible and resumable.

A sample is ``(image, target)`` as in docs/architecture.md: image [C,H,W] (uint8 or float),
``target["boxes"]`` XYXY ``BoundingBoxes``; the per-box entries named in ``keys``
(``labels``, ``ignore``) stay aligned with the boxes; ``target["masks"]`` (instance masks,
``tv_tensors.Mask`` [K, H, W]) are resized (nearest-exact), placed and cut as their
image, kept and dropped with their boxes; other entries (``image_id``, ``file_name``,
``orig_size``) are the first sample's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import PIL.Image
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from detplug_core.errors import BuildError
from detplug_torchvision.datasets.errors import SampleError
from detplug_torchvision.registries import TRANSFORMS
from detplug_torchvision.transforms.boxes import DEFAULT_KEYS
from detplug_torchvision.transforms.scale_crop import check_range, fill_for
from detplug_torchvision.transforms.target_masks import (
    MASKS,
    check_keys_leave_out_masks,
    masks_of,
    place_masks,
    resize_masks,
)

__all__ = ["MixUp", "Mosaic", "MultiImageTransform"]

Sample = tuple[Any, dict]


class _Part(NamedTuple):
    """One sample's share of a combined target: its target, its kept boxes on the new
    canvas, the keep mask over its boxes, and its kept masks (or None) [k, h, w] as its
    image was placed (resized, flipped) with their top-left corner at ``shift`` (y, x) of
    the canvas; what falls outside the canvas is cut."""

    target: dict
    boxes: Tensor
    keep: Tensor
    masks: Tensor | None = None
    shift: tuple[int, int] = (0, 0)


def _check_p(name: str, p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise BuildError(f"{name}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _plain_image(image: Any) -> Tensor:
    if isinstance(image, PIL.Image.Image):
        image = F.pil_to_tensor(image)
    if not isinstance(image, Tensor) or image.ndim != 3:
        raise TypeError(f"expected an image tensor [C,H,W], got {type(image).__name__}")
    return image.as_subclass(Tensor)


def _plain_boxes(target: dict) -> Tensor:
    boxes = target["boxes"]
    fmt = getattr(boxes, "format", tv_tensors.BoundingBoxFormat.XYXY)
    if fmt != tv_tensors.BoundingBoxFormat.XYXY:
        raise ValueError(f"multi-image transforms need XYXY boxes, got {fmt}")
    return boxes.as_subclass(Tensor).reshape(-1, 4).to(torch.float32)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def _resize_fit(image: Tensor, boxes: Tensor, factor: float) -> tuple[Tensor, Tensor]:
    """Image resized by ``factor`` (sides rounded, at least 1 px); boxes scaled exactly as
    the pixels were (per axis: new side / old side)."""
    height, width = image.shape[-2:]
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    if (new_h, new_w) != (height, width):
        image = F.resize(image, [new_h, new_w], antialias=True)
    scale = boxes.new_tensor([new_w / width, new_h / height] * 2)
    return image, boxes * scale


def _channels(image: Tensor, channels: int) -> Tensor:
    """Greyscale (1 channel) repeated to ``channels``; other counts must agree."""
    if image.shape[0] == channels:
        return image
    if image.shape[0] == 1:
        return image.expand(channels, -1, -1)
    raise ValueError(f"cannot combine images of {image.shape[0]} and {channels} channels")


def _clip_keep(boxes: Tensor, x1: float, y1: float, x2: float, y2: float) -> tuple:
    """Boxes clipped to the rectangle, and the mask of those with a positive area left."""
    boxes = torch.stack(
        [
            boxes[:, 0].clamp(x1, x2),
            boxes[:, 1].clamp(y1, y2),
            boxes[:, 2].clamp(x1, x2),
            boxes[:, 3].clamp(y1, y2),
        ],
        dim=1,
    )
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes, keep


class MultiImageTransform:
    """Base of transforms that need ``num_others`` more samples of the dataset.

    ``choose_partners(len(dataset))`` draws whether to apply (probability ``p``) and the
    partners' indices (None: leave the sample as it is); ``mix(sample, others)`` combines.
    Called like an ordinary ``(image, target)`` transform it raises: it has no partners."""

    num_others: int = 1

    def __init__(self, p: float = 1.0, keys: Sequence[str] = DEFAULT_KEYS) -> None:
        self.p = _check_p(type(self).__name__, p)
        self.keys = check_keys_leave_out_masks(type(self).__name__, tuple(keys))

    def choose_partners(self, dataset_len: int) -> list[int] | None:
        if self.p < 1.0 and float(torch.rand(())) >= self.p:
            return None
        return torch.randint(dataset_len, (self.num_others,)).tolist()

    def mix(self, sample: Sample, others: list[Sample]) -> Sample:
        raise NotImplementedError

    def __call__(self, *inputs: Any) -> Any:
        name = type(self).__name__
        raise TypeError(
            f"{name} combines several samples: list it in the 'transforms' of a "
            f"MultiImageMixDataset (which provides the other samples), not in a dataset's "
            f"own transforms"
        )

    def _with_masks(self, targets: list[dict]) -> bool:
        """Whether the samples carry instance masks: all of them or none."""
        have = [MASKS in t for t in targets]
        if any(have) and not all(have):
            raise SampleError(
                f"{type(self).__name__}: {sum(have)} of the {len(have)} samples it combines "
                "have target['masks'] and the others not; give every dataset it draws from "
                "masks (with_masks: true) or none"
            )
        return all(have)

    def _target(self, first: dict, parts: list[_Part], size) -> dict:
        """``first`` with the kept boxes, the ``keys`` entries and the masks of every part
        concatenated in order, on a canvas of ``size`` (h, w)."""
        boxes = torch.cat([part.boxes for part in parts])
        target = dict(first)
        target["boxes"] = tv_tensors.BoundingBoxes(
            boxes.reshape(-1, 4), format=tv_tensors.BoundingBoxFormat.XYXY, canvas_size=size
        )
        for key in self.keys:
            if not isinstance(first.get(key), Tensor):
                continue
            if any(not isinstance(part.target.get(key), Tensor) for part in parts):
                raise ValueError(f"{type(self).__name__}: some samples lack target[{key!r}]")
            target[key] = torch.cat([part.target[key][part.keep] for part in parts])
        if parts[0].masks is not None:
            pieces = [(part.masks, part.shift) for part in parts]
            target[MASKS] = tv_tensors.Mask(place_masks(pieces, size))
        return target

    @staticmethod
    def _wrap(like: Any, image: Tensor) -> Any:
        return tv_tensors.Image(image) if isinstance(like, tv_tensors.Image) else image


@TRANSFORMS.register()
class Mosaic(MultiImageTransform):
    """Four samples (this one and 3 drawn from the dataset) in a 2x2 grid around a random
    centre on a ``2*size`` square canvas filled with ``fill`` (0..255 units): each image
    is resized keeping its aspect ratio to fit ``size`` x ``size`` and placed against the
    centre (top-left, top-right, bottom-left, bottom-right); what falls off the canvas is
    cut, with the boxes clipped and emptied ones dropped. The centre's x and y are drawn
    from ``center_range`` times ``size``. Applied with probability ``p``. Instance masks
    are resized (nearest-exact), placed and cut as their image, on an empty (0) canvas.
    """

    num_others = 3

    def __init__(
        self,
        size: int = 640,
        center_range: Sequence[float] = (0.5, 1.5),
        fill: float = 114,
        p: float = 1.0,
        keys: Sequence[str] = DEFAULT_KEYS,
    ) -> None:
        super().__init__(p, keys)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise BuildError(f"Mosaic: size must be a positive int, got {size!r}")
        self.size = size
        self.center_range = check_range("Mosaic", "center_range", center_range)
        if self.center_range[1] > 2.0:
            raise BuildError(f"Mosaic: center_range must lie in (0, 2], got {center_range!r}")
        self.fill = float(fill)

    def mix(self, sample: Sample, others: list[Sample]) -> Sample:
        samples = [sample, *others]
        images = [_plain_image(img) for img, _ in samples]
        channels = max(img.shape[0] for img in images)
        dtype = images[0].dtype
        s = self.size
        canvas = torch.full((channels, 2 * s, 2 * s), fill_for(images[0], self.fill), dtype=dtype)
        xc = int(_uniform(*self.center_range) * s)
        yc = int(_uniform(*self.center_range) * s)
        with_masks = self._with_masks([t for _, t in samples])
        parts = []
        for pos, (image, (_, target)) in enumerate(zip(images, samples, strict=True)):
            h, w = image.shape[-2:]
            boxes = _plain_boxes(target)
            masks = masks_of(target, "Mosaic", len(boxes), (h, w)) if with_masks else None
            image, boxes = _resize_fit(image, boxes, min(s / h, s / w))
            image = _channels(image.to(dtype), channels)
            nh, nw = image.shape[-2:]
            left, top = pos % 2 == 0, pos < 2
            x1, x2 = (max(xc - nw, 0), xc) if left else (xc, min(xc + nw, 2 * s))
            y1, y2 = (max(yc - nh, 0), yc) if top else (yc, min(yc + nh, 2 * s))
            cx = nw - (x2 - x1) if left else 0  # where the placed part starts in the image
            cy = nh - (y2 - y1) if top else 0
            canvas[:, y1:y2, x1:x2] = image[:, cy : cy + y2 - y1, cx : cx + x2 - x1]
            boxes = boxes + boxes.new_tensor([x1 - cx, y1 - cy] * 2)
            boxes, keep = _clip_keep(boxes, x1, y1, x2, y2)
            if masks is not None:  # the kept ones, resized and placed as the image
                masks = resize_masks(masks[keep], (nh, nw))
            parts.append(_Part(target, boxes[keep], keep, masks, (y1 - cy, x1 - cx)))
        target = self._target(samples[0][1], parts, (2 * s, 2 * s))
        return self._wrap(sample[0], canvas), target


# the bridge leaves v2's classification MixUp out for this one (DETECTION_REPLACEMENTS)
@TRANSFORMS.register()
class MixUp(MultiImageTransform):
    """Blend this sample with one more sample of the dataset (loaded with the inner
    dataset's own transforms, not mosaicked), boxes concatenated: the partner is resized
    keeping its aspect ratio to fit ``size`` x ``size`` times a ratio drawn from
    ``ratio_range``, flipped horizontally with probability ``flip_p``, put on a canvas
    filled with ``fill`` and cut at a random offset to this image's size; the image becomes
    ``(1 - alpha) * image + alpha * partner`` (YOLOX's MixUp with ``alpha`` 0.5). Applied
    with probability ``p``. Instance masks are not blended but concatenated, as boxes are:
    the partner's resized (nearest-exact), flipped and cut as the partner, 0 outside it."""

    num_others = 1

    def __init__(
        self,
        size: int = 640,
        ratio_range: Sequence[float] = (0.5, 1.5),
        flip_p: float = 0.5,
        alpha: float = 0.5,
        fill: float = 114,
        p: float = 1.0,
        keys: Sequence[str] = DEFAULT_KEYS,
    ) -> None:
        super().__init__(p, keys)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise BuildError(f"MixUp: size must be a positive int, got {size!r}")
        self.size = size
        self.ratio_range = check_range("MixUp", "ratio_range", ratio_range)
        self.flip_p = _check_p("MixUp (flip_p)", flip_p)
        self.alpha = _check_p("MixUp (alpha)", alpha)
        self.fill = float(fill)

    def mix(self, sample: Sample, others: list[Sample]) -> Sample:
        (image, target), (other, other_target) = sample, others[0]
        base = _plain_image(image)
        channels, height, width = base.shape
        partner = _plain_image(other)
        ph, pw = partner.shape[-2:]
        own = _plain_boxes(target)
        boxes = _plain_boxes(other_target)
        own_masks = other_masks = None
        if self._with_masks([target, other_target]):
            own_masks = masks_of(target, "MixUp", len(own), (height, width))
            other_masks = masks_of(other_target, "MixUp", len(boxes), (ph, pw))
        factor = min(self.size / ph, self.size / pw) * _uniform(*self.ratio_range)
        partner, boxes = _resize_fit(partner, boxes, factor)
        partner = _channels(partner.to(base.dtype), channels)
        nh, nw = partner.shape[-2:]
        flipped = float(torch.rand(())) < self.flip_p
        if flipped:
            partner = partner.flip(-1)
            boxes = torch.stack([nw - boxes[:, 2], boxes[:, 1], nw - boxes[:, 0], boxes[:, 3]], 1)
        canvas = torch.full(
            (channels, max(height, nh), max(width, nw)), fill_for(base, self.fill), dtype=base.dtype
        )
        canvas[:, :nh, :nw] = partner
        top = int(torch.randint(canvas.shape[1] - height + 1, ()))
        left = int(torch.randint(canvas.shape[2] - width + 1, ()))
        region = canvas[:, top : top + height, left : left + width]
        boxes, keep = _clip_keep(boxes - boxes.new_tensor([left, top] * 2), 0, 0, width, height)
        mixed = base.to(torch.float32) * (1.0 - self.alpha) + region.to(torch.float32) * self.alpha
        if not base.is_floating_point():
            mixed = mixed.round_().clamp_(0, torch.iinfo(base.dtype).max)
        mixed = mixed.to(base.dtype)
        if other_masks is not None:  # the kept ones, resized, flipped and cut as the partner
            other_masks = resize_masks(other_masks[keep], (nh, nw))
            other_masks = other_masks.flip(-1) if flipped else other_masks
        parts = [
            _Part(target, own, torch.ones(len(own), dtype=torch.bool), own_masks),
            _Part(other_target, boxes[keep], keep, other_masks, (-top, -left)),
        ]
        return self._wrap(image, mixed), self._target(target, parts, (height, width))
