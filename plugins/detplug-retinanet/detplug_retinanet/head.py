"""RetinaNet's head: classification and box-regression towers shared over pyramid levels.

Shapes: N images, L levels, level l has H_l x W_l locations and A anchors per location,
K classes; ``sum HWA`` is the number of anchors of the whole pyramid.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder

from detplug_retinanet.assigner import IGNORED
from detplug_retinanet.postprocess import DensePostProcessor
from detplug_retinanet.registries import MODELS

DEFAULT_ANCHORS = {
    "type": "AnchorGenerator",
    # torchvision's sizes: x, int(x * 2^(1/3)), int(x * 2^(2/3)) for x in 32..512
    "sizes": [[32, 40, 50], [64, 80, 101], [128, 161, 203], [256, 322, 406], [512, 645, 812]],
    "aspect_ratios": [0.5, 1.0, 2.0],
}
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def conv_tower(channels: int, in_channels: int, num_convs: int, norm: str | None) -> nn.Sequential:
    """``num_convs`` x (3x3 conv, optional GroupNorm(32), ReLU)."""
    if norm not in (None, "GN"):
        raise ValueError(f"RetinaNetHead: norm must be null or 'GN', got {norm!r}")
    layers = []
    for i in range(num_convs):
        conv = nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1, bias=not norm)
        block = [conv] + ([nn.GroupNorm(32, channels)] if norm else []) + [nn.ReLU(inplace=True)]
        layers.append(nn.Sequential(*block))
    return nn.Sequential(*layers)


def flatten_level(x: Tensor, width: int) -> Tensor:
    """[N, A * width, H, W] -> [N, H * W * A, width] (location-major, then anchor)."""
    n, _, h, w = x.shape
    return x.view(n, -1, width, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, width)


@MODELS.register()
class RetinaNetHead(nn.Module):
    """Dense anchor head: per-anchor class logits (sigmoid) and box deltas.

    Owns its anchor generator, assigner, box coder, losses and post-processing, so a
    detector only hands it pyramid features and targets.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        feat_channels: int | None = None,
        num_convs: int = 4,
        norm: str | None = None,
        prior_prob: float = 0.01,
        anchor_generator: dict | None = None,
        assigner: dict | None = None,
        box_coder_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
        loss_cls: dict | None = None,
        loss_bbox: dict | None = None,
        score_thresh: float = 0.05,
        topk_candidates: int = 1000,
        nms_thresh: float = 0.5,
        detections_per_img: int = 300,
    ) -> None:
        super().__init__()
        feat_channels = feat_channels or in_channels
        self.num_classes = num_classes
        self.anchor_generator = MODELS.build(anchor_generator or DEFAULT_ANCHORS)
        num_anchors = self.anchor_generator.num_anchors_per_location
        if len(set(num_anchors)) != 1:
            raise ValueError(f"RetinaNetHead needs the same anchors per level, got {num_anchors}")
        self.num_anchors = num_anchors[0]
        self.assigner = MODELS.build(assigner or {"type": "MaxIoUAssigner"})
        self.box_coder = BoxCoder(tuple(box_coder_weights), BBOX_XFORM_CLIP)
        self.loss_cls = MODELS.build(loss_cls or {"type": "FocalLoss"})
        self.loss_bbox = MODELS.build(loss_bbox or {"type": "L1Loss"})
        self.postprocess = DensePostProcessor(
            self.box_coder, score_thresh, topk_candidates, nms_thresh, detections_per_img
        )

        self.cls_convs = conv_tower(feat_channels, in_channels, num_convs, norm)
        self.cls_logits = nn.Conv2d(feat_channels, self.num_anchors * num_classes, 3, padding=1)
        self.reg_convs = conv_tower(feat_channels, in_channels, num_convs, norm)
        self.bbox_reg = nn.Conv2d(feat_channels, self.num_anchors * 4, 3, padding=1)
        self._init_weights(prior_prob)

    def _init_weights(self, prior_prob: float) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # Start every class at probability prior_prob so the many negatives don't swamp it.
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Features [N, C, H_l, W_l] -> class logits [N, sum HWA, K], deltas [N, sum HWA, 4],
        both float32 (also under autocast: box coding needs the precision)."""
        logits, deltas = [], []
        for x in features:
            logits.append(flatten_level(self.cls_logits(self.cls_convs(x)), self.num_classes))
            deltas.append(flatten_level(self.bbox_reg(self.reg_convs(x)), 4))
        return torch.cat(logits, dim=1).float(), torch.cat(deltas, dim=1).float()

    def anchors(self, padded_size: tuple[int, int], features: list[Tensor]) -> Tensor:
        """Anchors [sum HWA, 4] (float32) shared by every image of the batch."""
        sizes = [tuple(f.shape[-2:]) for f in features]
        return self.anchor_generator(padded_size, sizes, torch.float32, features[0].device)

    def loss(
        self, logits: Tensor, deltas: Tensor, anchors: Tensor, targets: list[dict[str, Any]]
    ) -> dict[str, Tensor]:
        """Focal loss over non-ignored anchors and box loss over positives, each divided by
        the image's number of positives (at least 1), then averaged over images."""
        num_images = len(targets)
        matched = torch.stack([self.assigner(anchors, t["boxes"]) for t in targets])  # [N, HWA]
        positive = matched >= 0
        num_pos = positive.sum(dim=1).clamp(min=1).to(logits.dtype)  # [N]

        # One-hot class targets for positives; ignored anchors take no part.
        img_idx, anchor_idx = positive.nonzero(as_tuple=True)  # [P], [P]
        gt_idx = [m[p] for m, p in zip(matched, positive, strict=True)]  # per image [P_i]
        gt_labels = torch.cat([t["labels"][i] for t, i in zip(targets, gt_idx, strict=True)])
        cls_targets = torch.zeros_like(logits)
        cls_targets[img_idx, anchor_idx, gt_labels] = 1.0
        valid = matched != IGNORED
        per_anchor = self.loss_cls(logits[valid], cls_targets[valid])  # [M]
        cls_per_image = logits.new_zeros(num_images).index_add_(
            0, valid.nonzero(as_tuple=True)[0], per_anchor
        )

        gt_boxes = torch.cat([t["boxes"][i] for t, i in zip(targets, gt_idx, strict=True)])
        pos_anchors, pos_deltas = anchors[anchor_idx], deltas[img_idx, anchor_idx]  # [P, 4]
        if self.loss_bbox.on_boxes:
            pred = self.box_coder.decode_single(pos_deltas, pos_anchors)
            box_loss = self.loss_bbox(pred, gt_boxes)
        else:
            box_loss = self.loss_bbox(
                pos_deltas, self.box_coder.encode_single(gt_boxes, pos_anchors)
            )
        box_per_image = logits.new_zeros(num_images).index_add_(0, img_idx, box_loss)
        return {
            "loss_cls": (cls_per_image / num_pos).sum() / num_images,
            "loss_bbox": (box_per_image / num_pos).sum() / max(1, num_images),
        }

    def predict(
        self,
        logits: Tensor,
        deltas: Tensor,
        anchors: Tensor,
        features: list[Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        """Detections per image, in the (unpadded) image's pixels."""
        per_level = [f.shape[-2] * f.shape[-1] * self.num_anchors for f in features]
        return self.postprocess(logits, deltas, anchors, per_level, image_sizes)
