"""Faster R-CNN's second stage with Mask R-CNN's mask branch beside its box branch.

Shapes: R sampled RoIs, P positive RoIs, D detections (all images together), C foreground
classes, S the mask RoIAlign size (14), M = 2S the mask size (28). Labels inside are 1-based
with 0 the background (as in detplug-faster-rcnn's RoIHead); detections leave 0-based.
"""

from __future__ import annotations

from typing import Any

import torch
from detplug_faster_rcnn.roi_head import RoIHead
from detplug_torchvision.ops import multiscale_roi_align
from detplug_torchvision.parts import build_part
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign

from detplug_mask_rcnn.registries import MODELS


@MODELS.register()
class MaskRoIHead(RoIHead):
    """detplug-faster-rcnn's ``RoIHead`` (box branch, sampling, box loss, detections: every
    argument of it is taken unchanged) plus the mask branch of He et al. 2017.

    Mask branch: RoIAlign of each RoI to ``mask_roi_size`` (14) on its FPN level
    (``sampling_ratio`` as the box branch's), ``mask_head`` (default MaskConvHead: four 3x3
    convolutions + ReLU), ``mask_predictor`` (default MaskPredictor: a 2x2 deconvolution to
    28x28 and a 1x1 convolution per class). Its parts, optional configs built through the
    registry (``type`` may be left out for the default): ``mask_loss`` (MaskLoss) and
    ``mask_postprocess`` (MaskPostprocess).

    Training: the mask branch runs on the positive sampled RoIs only and adds ``loss_mask``
    (binary cross-entropy of the GT class's mask). Inference: it runs on the detected boxes;
    each detection gets ``masks`` [1, H, W], its class's mask probability in image pixels.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        mask_roi_size: int = 14,
        mask_head: dict | None = None,
        mask_predictor: dict | None = None,
        mask_loss: dict | None = None,
        mask_postprocess: dict | None = None,
        **box_branch: Any,
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, **box_branch)
        self.mask_roi_align = MultiScaleRoIAlign(
            self.level_names, mask_roi_size, self.roi_align.sampling_ratio
        )
        self.mask_head = build_part(
            MODELS, mask_head, "MaskRoIHead", "mask_head", "MaskConvHead", in_channels=in_channels
        )
        self.mask_predictor = build_part(
            MODELS,
            mask_predictor,
            "MaskRoIHead",
            "mask_predictor",
            "MaskPredictor",
            num_classes=num_classes,
            in_channels=self.mask_head.out_channels,
        )
        self.mask_loss = build_part(MODELS, mask_loss, "MaskRoIHead", "mask_loss", "MaskLoss")
        self.mask_postprocess = build_part(
            MODELS, mask_postprocess, "MaskRoIHead", "mask_postprocess", "MaskPostprocess"
        )

    def forward(
        self,
        features: list[Tensor],
        proposals: list[Tensor],
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> list[dict[str, Tensor]] | dict[str, Tensor]:
        """Losses (``loss_cls``, ``loss_bbox``, ``loss_mask``) when ``targets`` (with
        ``masks`` [G, H, W]) are given, else detections per image with ``masks``."""
        if targets is None:
            detections = super().forward(features, proposals, image_sizes)
            boxes = [d["boxes"] for d in detections]
            logits = self.predict_masks(features, boxes, image_sizes)
            return self.mask_postprocess(logits, detections, image_sizes)
        rois, labels, box_targets = self.assigner(proposals, targets)
        logits, deltas = self.predict_rois(features, rois, image_sizes)
        losses = self.loss(logits, deltas, labels, box_targets)
        positives, positive_labels = [], []
        for rois_i, labels_i in zip(rois, labels.split([len(r) for r in rois]), strict=True):
            keep = torch.where(labels_i > 0)[0]
            positives.append(rois_i[keep])
            positive_labels.append(labels_i[keep])
        mask_logits = self.predict_masks(features, positives, image_sizes)
        losses.update(self.mask_loss(mask_logits, positives, torch.cat(positive_labels), targets))
        return losses

    def predict_masks(
        self, features: list[Tensor], boxes: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> Tensor:
        """The mask branch's raw outputs for ``boxes`` per image: logits [B, C + 1, M, M]."""
        maps = dict(zip(self.level_names, features, strict=False))  # P6 is RPN-only
        pooled = multiscale_roi_align(self.mask_roi_align, maps, boxes, image_sizes)
        logits = self.mask_predictor(self.mask_head(pooled))
        return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
