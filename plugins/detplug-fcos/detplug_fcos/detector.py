"""The FCOS detector: preprocessor + backbone + neck + head, torchvision detection API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from detplug_torchvision.parts import build_backbone_and_neck, build_part
from detplug_torchvision.prior_cache import PriorCache
from detplug_torchvision.targets import matched_targets, require_targets, training_targets
from torch import Tensor, nn

from detplug_fcos.points import level_points
from detplug_fcos.registries import MODELS


def _build(cfg: Mapping[str, Any] | None, key: str, default_type: str) -> Any:
    """Build an optional part; ``type`` may be left out for the FCOS default."""
    return build_part(MODELS, cfg, "FCOS", key, default_type)


@MODELS.register()
class FCOS(nn.Module):
    """FCOS (Tian et al.), equal to torchvision's ``FCOS`` given the same weights.

    ``model(images, targets)``: images are ``[3, H, W]`` float tensors in 0..1 of any sizes;
    in train mode targets are dicts with ``boxes`` [M, 4] xyxy pixels, ``labels`` [M] in
    0..C-1 and optionally ``ignore`` [M] bool (ignored boxes are dropped), and the result is
    ``{"loss_cls", "loss_bbox", "loss_centerness"}``. In eval mode the result is one
    ``{"boxes", "scores", "labels"}`` dict per image, in input-image pixels.

    Args:
        backbone, neck, head: MODELS configs. The neck's ``in_channels`` defaults to the
            backbone's ``out_channels`` and the head's ``in_channels`` to the neck's.
        preprocessor: ``DetPreprocessor`` config (mean/std, size_divisible, channels_last).
        assigner, loss, postprocess: ``FCOSAssigner``, ``FCOSLoss``, ``FCOSPostprocess``
            configs. ``type`` may be left out; ``None`` takes the defaults (torchvision's).
        strides: nominal stride of each neck level; scales box distances, the centre
            sampling radius and the default scale ranges.
        point_offset: position of a level's first point in units of its stride (0 as in
            torchvision; 0.5 puts points at cell centres).
    """

    # Modules whose rows are indexed by class (load_from's class_map: by_name): plain logits.
    class_tensors = {"head.classification_head.cls_logits": (0, 1)}

    def __init__(
        self,
        backbone: Mapping[str, Any],
        neck: Mapping[str, Any],
        head: Mapping[str, Any],
        preprocessor: Mapping[str, Any] | None = None,
        assigner: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        postprocess: Mapping[str, Any] | None = None,
        strides: Sequence[int] = (8, 16, 32, 64, 128),
        point_offset: float = 0.0,
    ) -> None:
        super().__init__()
        self.preprocessor = _build(preprocessor, "preprocessor", "DetPreprocessor")
        self.backbone, self.neck = build_backbone_and_neck(MODELS, backbone, neck, "FCOS")
        self.head = MODELS.build(head, in_channels=self.neck.out_channels)
        self.assigner = _build(assigner, "assigner", "FCOSAssigner")
        self.loss = _build(loss, "loss", "FCOSLoss")
        self.postprocess = _build(postprocess, "postprocess", "FCOSPostprocess")
        self.strides = [int(s) for s in strides]
        self.point_offset = float(point_offset)
        self.num_classes = self.head.num_classes
        self._points_cache: PriorCache[tuple[Tensor, Tensor]] = PriorCache()

    def points(self, levels: list[Tensor], batch_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Cached :func:`level_points` for these feature shapes and batch size."""
        return self._points_cache.get(
            levels,
            lambda shapes: level_points(
                shapes, batch_size, self.strides, self.point_offset, levels[0].device
            ),
            key=batch_size,
        )

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[Mapping[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Losses (train mode) or detections (eval mode); see the class docstring."""
        if self.training:
            targets = require_targets("FCOS", images, targets)
            gts = training_targets(targets, next(self.parameters()).device, self.num_classes)
            return self._forward(images, [(t["boxes"], t["labels"]) for t in gts])
        # Detections are not differentiable (top-k, NMS): skip autograd bookkeeping.
        with torch.inference_mode():
            return self._forward(images, None)

    def _forward(
        self, images: Sequence[Tensor], targets: list[tuple[Tensor, Tensor]] | None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        batch, image_sizes = self.preprocessor(images)  # [N, 3, H, W]
        levels = list(self.neck(self.backbone(batch)).values())  # [N, F, H_l, W_l]
        cls_logits, box_deltas, ctr_logits = self.head(levels)  # [N,A,C], [N,A,4], [N,A]
        points, sizes = self.points(levels, (batch.shape[-2], batch.shape[-1]))
        num_per_level = [x.shape[-2] * x.shape[-1] for x in levels]
        if targets is not None:
            boxes, labels = self._assign(targets, points, sizes, num_per_level)
            return self.loss(cls_logits, box_deltas, ctr_logits, points, sizes, boxes, labels)
        return self.postprocess(
            cls_logits, box_deltas, ctr_logits, points, sizes, num_per_level, image_sizes
        )

    def _assign(
        self,
        targets: list[tuple[Tensor, Tensor]],
        points: Tensor,
        sizes: Tensor,
        num_per_level: list[int],
    ) -> tuple[Tensor, Tensor]:
        """Per point, the matched box [N, A, 4] and label [N, A] (-1: background)."""
        lower, upper = self.assigner.point_ranges(sizes, num_per_level)
        all_boxes, all_labels = [], []
        for gt_boxes, gt_labels in targets:
            index = self.assigner(points, sizes, lower, upper, gt_boxes)  # [A]
            boxes, labels = matched_targets(index, gt_boxes, gt_labels)
            all_boxes.append(boxes)
            all_labels.append(labels)
        return torch.stack(all_boxes), torch.stack(all_labels)
