"""The RetinaNet detector: preprocessor, backbone, neck and dense head from the registry; it
owns the anchors, the assigner, the loss and the post-processing (docs/architecture.md)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from detplug_torchvision.parts import build_backbone_and_neck, build_part
from detplug_torchvision.targets import require_targets, training_targets
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder

from detplug_retinanet.registries import MODELS

DEFAULT_ANCHORS = {
    "type": "AnchorGenerator",
    # torchvision's sizes: x, int(x * 2^(1/3)), int(x * 2^(2/3)) for x in 32..512
    "sizes": [[32, 40, 50], [64, 80, 101], [128, 161, 203], [256, 322, 406], [512, 645, 812]],
    "aspect_ratios": [0.5, 1.0, 2.0],
}
BBOX_XFORM_CLIP = math.log(1000.0 / 16)

# Keys that RetinaNetHead took before the head returned raw outputs only (detplug-retinanet
# 0.1), and where they live now: (part of the detector, key in it; None: the part itself).
# Configs written for the old layout (and the configs inside older checkpoints) still build.
LEGACY_HEAD_KEYS = {
    "anchor_generator": ("anchor_generator", None),
    "assigner": ("assigner", None),
    "box_coder_weights": ("box_coder_weights", None),
    "loss_cls": ("loss", "loss_cls"),
    "loss_bbox": ("loss", "loss_bbox"),
    "score_thresh": ("postprocess", "score_thresh"),
    "topk_candidates": ("postprocess", "topk_candidates"),
    "nms_thresh": ("postprocess", "nms_thresh"),
    "detections_per_img": ("postprocess", "detections_per_img"),
}


def move_legacy_head_keys(parts: dict[str, Any]) -> dict[str, Any]:
    """``parts`` (the detector's arguments) with old ``head.<key>`` entries moved to their
    detector part (LEGACY_HEAD_KEYS); a moved key wins over the part's own value, since a
    user set it. Warns once per call, naming the new keys."""
    head = dict(parts["head"])
    moved = [key for key in LEGACY_HEAD_KEYS if key in head]
    if not moved:
        return parts
    parts = dict(parts, head=head)
    for key in moved:
        part, sub = LEGACY_HEAD_KEYS[key]
        value = head.pop(key)
        if sub is None:
            parts[part] = value
        else:
            parts[part] = {**(parts.get(part) or {}), sub: value}
    new = ", ".join(
        f"head.{k} -> model.{LEGACY_HEAD_KEYS[k][0]}"
        + (f".{LEGACY_HEAD_KEYS[k][1]}" if LEGACY_HEAD_KEYS[k][1] else "")
        for k in moved
    )
    warnings.warn(f"RetinaNet: moved keys of the old head layout ({new})", FutureWarning, 2)
    return parts


@MODELS.register()
class RetinaNet(nn.Module):
    """RetinaNet (Lin et al. 2017) with torchvision's detection API (docs/architecture.md).

    ``model(images, targets)`` returns ``{"loss_cls", "loss_bbox"}`` in train mode and
    ``[{"boxes", "scores", "labels"}]`` in input-image pixels in eval mode.

    Args:
        backbone, neck, head: MODELS configs. The neck gets ``in_channels`` from the
            backbone; the head gets ``in_channels`` from the neck and ``num_anchors`` from
            the anchor generator, unless the config sets them.
        preprocessor: ``DetPreprocessor`` config.
        anchor_generator: ``AnchorGenerator`` config (default: torchvision's 9 anchors per
            location on P3-P7); the same number of anchors on every level.
        assigner, loss, postprocess: ``MaxIoUAssigner``, ``RetinaNetLoss``,
            ``RetinaNetPostprocess`` configs; ``type`` may be left out for these defaults.
        box_coder_weights: weights of the box coder shared by loss and post-processing.
    """

    # Modules whose rows are indexed by class (load_from's class_map: by_name): A * C logits.
    class_tensors = {"head.cls_logits": (0, 1)}

    def __init__(
        self,
        backbone: Mapping[str, Any],
        neck: Mapping[str, Any],
        head: Mapping[str, Any],
        preprocessor: Mapping[str, Any] | None = None,
        anchor_generator: Mapping[str, Any] | None = None,
        assigner: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        postprocess: Mapping[str, Any] | None = None,
        box_coder_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        p = move_legacy_head_keys(
            {
                "head": head,
                "anchor_generator": anchor_generator,
                "assigner": assigner,
                "loss": loss,
                "postprocess": postprocess,
                "box_coder_weights": box_coder_weights,
            }
        )
        self.preprocessor = build_part(
            MODELS, preprocessor, "RetinaNet", "preprocessor", "DetPreprocessor"
        )
        self.backbone, self.neck = build_backbone_and_neck(MODELS, backbone, neck, "RetinaNet")
        self.anchor_generator = MODELS.build(p["anchor_generator"] or DEFAULT_ANCHORS)
        num_anchors = self.anchor_generator.num_anchors_per_location
        if len(set(num_anchors)) != 1:
            raise ValueError(f"RetinaNet needs the same anchors per level, got {num_anchors}")
        self.head = MODELS.build(
            p["head"], in_channels=self.neck.out_channels, num_anchors=num_anchors[0]
        )
        self.num_anchors = num_anchors[0]
        self.box_coder = BoxCoder(tuple(p["box_coder_weights"]), BBOX_XFORM_CLIP)
        self.assigner = build_part(MODELS, p["assigner"], "RetinaNet", "assigner", "MaxIoUAssigner")
        self.loss = build_part(
            MODELS, p["loss"], "RetinaNet", "loss", "RetinaNetLoss", box_coder=self.box_coder
        )
        self.postprocess = build_part(
            MODELS,
            p["postprocess"],
            "RetinaNet",
            "postprocess",
            "RetinaNetPostprocess",
            box_coder=self.box_coder,
        )

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def anchors(self, padded_size: tuple[int, int], features: list[Tensor]) -> Tensor:
        """Anchors [sum HWA, 4] (float32) shared by every image of the batch."""
        sizes = [tuple(f.shape[-2:]) for f in features]
        return self.anchor_generator(padded_size, sizes, torch.float32, features[0].device)

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[dict[str, Any]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training:
            targets = require_targets("RetinaNet", images, targets)
        batch, image_sizes = self.preprocessor(images)  # [N, 3, H, W], [(H_i, W_i)]
        features = list(self.neck(self.backbone(batch)).values())
        logits, deltas = self.head(features)  # [N, sum HWA, K], [N, sum HWA, 4]
        anchors = self.anchors(tuple(batch.shape[-2:]), features)  # [sum HWA, 4]
        if self.training:
            gts = training_targets(targets, batch.device, self.num_classes)
            matched = torch.stack([self.assigner(anchors, t["boxes"]) for t in gts])  # [N, HWA]
            return self.loss(logits, deltas, anchors, matched, gts)
        per_level = [f.shape[-2] * f.shape[-1] * self.num_anchors for f in features]
        return self.postprocess(logits, deltas, anchors, per_level, image_sizes)
