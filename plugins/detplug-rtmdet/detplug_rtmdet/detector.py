"""The RTMDet detector: preprocessor + CSPNeXt + PAFPN + shared-conv head; it owns the
assigner, the losses and the post-processing (the FCOS convention)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from detplug_torchvision.parts import build_backbone_and_neck, build_part
from detplug_torchvision.prior_cache import PriorCache
from detplug_torchvision.targets import matched_targets, require_targets, training_targets
from torch import Tensor, nn

from detplug_core.errors import BuildError
from detplug_rtmdet.points import decode, level_points
from detplug_rtmdet.registries import MODELS


def _build(cfg: Mapping[str, Any] | None, key: str, default_type: str) -> Any:
    """Build an optional part; ``type`` may be left out for the RTMDet default."""
    return build_part(MODELS, cfg, "RTMDet", key, default_type)


@MODELS.register()
class RTMDet(nn.Module):
    """RTMDet (Lyu et al. 2022), torchvision detection API.

    ``model(images, targets)``: images are ``[3, H, W]`` float tensors in 0..1; in train
    mode targets hold ``boxes`` [M, 4] xyxy pixels, ``labels`` [M] in 0..C-1 and optionally
    ``ignore`` [M] (dropped), and the result is ``{"loss_cls", "loss_bbox"}``. In eval mode
    the result is one ``{"boxes", "scores", "labels"}`` dict per image.

    Args:
        backbone, neck, head: MODELS configs; the neck's ``in_channels`` default to the
            backbone's ``out_channels``, the head's to the neck's ``out_channels``.
        preprocessor: ``DetPreprocessor`` config.
        assigner, loss, postprocess: ``DynamicSoftLabelAssigner``, ``RTMDetLoss``,
            ``RTMDetPostprocess`` configs (``type`` may be left out; ``None``: defaults).
        strides: stride of each neck level.
        point_offset: a level's first point in units of its stride (RTMDet: 0).
        norm_momentum: if set, the momentum of every BatchNorm's running statistics
            (RTMDet: 0.03, the parts' default, made for 300 epochs; a run of a few hundred
            iterations evaluates with fresher statistics at PyTorch's 0.1).
    """

    def __init__(
        self,
        backbone: Mapping[str, Any],
        neck: Mapping[str, Any],
        head: Mapping[str, Any],
        preprocessor: Mapping[str, Any] | None = None,
        assigner: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        postprocess: Mapping[str, Any] | None = None,
        strides: Sequence[int] = (8, 16, 32),
        point_offset: float = 0.0,
        norm_momentum: float | None = None,
    ) -> None:
        super().__init__()
        self.preprocessor = _build(preprocessor, "preprocessor", "DetPreprocessor")
        self.backbone, self.neck = build_backbone_and_neck(MODELS, backbone, neck, "RTMDet")
        self.head = MODELS.build(head, in_channels=self.neck.out_channels)
        self.assigner = _build(assigner, "assigner", "DynamicSoftLabelAssigner")
        self.loss = _build(loss, "loss", "RTMDetLoss")
        self.postprocess = _build(postprocess, "postprocess", "RTMDetPostprocess")
        self.strides = [int(s) for s in strides]
        self.point_offset = float(point_offset)
        self.num_classes = self.head.num_classes
        # Modules whose rows are indexed by class (load_from's class_map: by_name).
        self.class_tensors = {f"head.cls_preds.{i}": (0, 1) for i in range(self.head.num_levels)}
        if norm_momentum is not None:
            if not 0 < norm_momentum <= 1:
                raise BuildError(f"RTMDet.norm_momentum must be in (0, 1], got {norm_momentum}")
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = float(norm_momentum)
        self._points_cache: PriorCache[tuple[Tensor, Tensor]] = PriorCache()

    def points(self, levels: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Cached :func:`level_points` for these feature shapes."""
        return self._points_cache.get(
            levels,
            lambda shapes: level_points(shapes, self.strides, self.point_offset, levels[0].device),
        )

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[Mapping[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Losses (train mode) or detections (eval mode); see the class docstring."""
        if self.training:
            targets = require_targets("RTMDet", images, targets)
            gts = training_targets(targets, next(self.parameters()).device, self.num_classes)
            return self._forward(images, [(t["boxes"], t["labels"]) for t in gts])
        with torch.inference_mode():  # detections are not differentiable (top-k, NMS)
            return self._forward(images, None)

    def _forward(
        self, images: Sequence[Tensor], targets: list[tuple[Tensor, Tensor]] | None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        batch, image_sizes = self.preprocessor(images)  # [N, 3, H, W]
        levels = list(self.neck(self.backbone(batch)).values())  # [N, F, H_l, W_l]
        cls_logits, log_dist = self.head(levels)  # [N, A, C], [N, A, 4]
        points, strides = self.points(levels)
        if targets is None:
            num_per_level = [x.shape[-2] * x.shape[-1] for x in levels]
            return self.postprocess(
                cls_logits, log_dist, points, strides, num_per_level, image_sizes
            )
        pred_boxes = decode(log_dist.float(), points, strides)  # [N, A, 4]
        gt_boxes, gt_labels, quality = [], [], []
        for i, (boxes, labels) in enumerate(targets):
            index, iou = self.assigner(
                cls_logits[i].detach(), pred_boxes[i].detach(), points, strides, boxes, labels
            )
            matched_boxes, matched_labels = matched_targets(index, boxes, labels)
            gt_boxes.append(matched_boxes)
            gt_labels.append(matched_labels)
            quality.append(iou)
        return self.loss(
            cls_logits, pred_boxes, torch.stack(gt_boxes), torch.stack(gt_labels),
            torch.stack(quality),
        )  # fmt: skip
