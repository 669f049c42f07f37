"""RetinaNet's head: classification and box-regression towers shared over pyramid levels.

The head returns raw outputs only (docs/architecture.md, "One convention for detectors");
anchors, assignment, losses and post-processing belong to the detector.
Shapes: N images, L levels, level l has H_l x W_l locations and A anchors per location,
K classes; ``sum HWA`` is the number of anchors of the whole pyramid.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from detplug_retinanet.registries import MODELS


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

    ``num_anchors`` (per location) and ``in_channels`` come from the detector (its anchor
    generator and neck) unless the config sets them.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        num_anchors: int = 9,
        feat_channels: int | None = None,
        num_convs: int = 4,
        norm: str | None = None,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        feat_channels = feat_channels or in_channels
        self.num_classes = num_classes
        self.num_anchors = num_anchors
        self.cls_convs = conv_tower(feat_channels, in_channels, num_convs, norm)
        self.cls_logits = nn.Conv2d(feat_channels, num_anchors * num_classes, 3, padding=1)
        self.reg_convs = conv_tower(feat_channels, in_channels, num_convs, norm)
        self.bbox_reg = nn.Conv2d(feat_channels, num_anchors * 4, 3, padding=1)
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
