"""The RetinaNet detector: preprocessor, backbone, neck and dense head from the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detplug_torchvision.preprocessor import build_part
from detplug_torchvision.targets import training_targets
from torch import Tensor, nn

from detplug_retinanet.registries import MODELS


@MODELS.register()
class RetinaNet(nn.Module):
    """RetinaNet (Lin et al. 2017) with torchvision's detection API (docs/architecture.md).

    ``model(images, targets)`` returns ``{"loss_cls", "loss_bbox"}`` in train mode and
    ``[{"boxes", "scores", "labels"}]`` in input-image pixels in eval mode. ``neck`` gets
    ``in_channels`` from the backbone and ``head`` from the neck unless the config sets them.
    """

    # Modules whose rows are indexed by class (load_from's class_map: by_name): A * C logits.
    class_tensors = {"head.cls_logits": (0, 1)}

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        head: dict,
        preprocessor: dict | None = None,
    ) -> None:
        super().__init__()
        self.preprocessor = build_part(
            MODELS, preprocessor, "RetinaNet", "preprocessor", "DetPreprocessor"
        )
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck, in_channels=self.backbone.out_channels)
        self.head = MODELS.build(head, in_channels=self.neck.out_channels)

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[dict[str, Any]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        if self.training and targets is None:
            raise ValueError("RetinaNet: targets are required in train mode")
        batch, image_sizes = self.preprocessor(images)  # [N, 3, H, W], [(H_i, W_i)]
        features = list(self.neck(self.backbone(batch)).values())
        logits, deltas = self.head(features)  # [N, sum HWA, K], [N, sum HWA, 4]
        anchors = self.head.anchors(tuple(batch.shape[-2:]), features)  # [sum HWA, 4]
        if self.training:
            return self.head.loss(
                logits,
                deltas,
                anchors,
                training_targets(targets, batch.device, self.head.num_classes),
            )
        return self.head.predict(logits, deltas, anchors, features, image_sizes)
