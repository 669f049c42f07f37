"""The Faster R-CNN detector: preprocessor, backbone, neck, RPN and RoI head from the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from detplug_torchvision.parts import build_backbone_and_neck, build_part
from detplug_torchvision.targets import require_targets, training_targets
from torch import Tensor, nn

from detplug_faster_rcnn.registries import MODELS


@MODELS.register()
class FasterRCNN(nn.Module):
    """Faster R-CNN (Ren et al. 2015) with FPN, torchvision's detection API.

    ``model(images, targets)`` returns ``{"loss_rpn_cls", "loss_rpn_bbox", "loss_cls",
    "loss_bbox"}`` in train mode and ``[{"boxes", "scores", "labels"}]`` in input-image
    pixels in eval mode. ``neck`` gets ``in_channels`` from the backbone; ``rpn`` and
    ``roi_head`` get ``in_channels`` from the neck unless the config sets them.
    """

    # Modules whose rows are indexed by class (load_from's class_map: by_name): background
    # first, then one logit / four box deltas per class.
    class_tensors = {"roi_head.cls_score": (1, 1), "roi_head.bbox_pred": (1, 4)}

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        rpn: dict,
        roi_head: dict,
        preprocessor: dict | None = None,
    ) -> None:
        super().__init__()
        self.preprocessor = build_part(
            MODELS, preprocessor, "FasterRCNN", "preprocessor", "DetPreprocessor"
        )
        self.backbone, self.neck = build_backbone_and_neck(MODELS, backbone, neck, "FasterRCNN")
        self.rpn = MODELS.build(rpn, in_channels=self.neck.out_channels)
        self.roi_head = MODELS.build(roi_head, in_channels=self.neck.out_channels)

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[dict[str, Any]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training:
            targets = require_targets(type(self).__name__, images, targets)
        batch, image_sizes = self.preprocessor(images)  # [N, 3, H, W], [(H_i, W_i)]
        features = list(self.neck(self.backbone(batch)).values())
        padded = tuple(batch.shape[-2:])
        if not self.training:
            proposals, _ = self.rpn(features, padded, image_sizes)
            return self.roi_head(features, proposals, image_sizes)
        gts = self.training_targets(targets, batch.device, image_sizes)
        proposals, losses = self.rpn(features, padded, image_sizes, gts)
        losses.update(self.roi_head(features, proposals, image_sizes, gts))
        return losses

    def training_targets(
        self,
        targets: Sequence[dict[str, Any]],
        device: torch.device,
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """The targets the two stages train on: boxes and labels on ``device``, ignored
        boxes dropped (a detector that trains on more, such as masks, extends this)."""
        return training_targets(targets, device, self.roi_head.num_classes)
