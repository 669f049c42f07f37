"""RTMDet's head: decoupled classification and regression towers whose conv weights are
shared across levels while each level keeps its own BatchNorms."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from detplug_core.errors import BuildError
from detplug_rtmdet.layers import BN_EPS, BN_MOMENTUM
from detplug_rtmdet.registries import MODELS

# Box distances are exp(x) strides; the clamp keeps a diverging step finite (exp(12) ~ 1.6e5).
_MAX_LOG_DISTANCE = 12.0


def flatten_levels(maps: Sequence[Tensor]) -> Tensor:
    """[N, K, H_l, W_l] per level -> [N, sum_l H_l * W_l, K] (level, then row, column)."""
    n, k = maps[0].shape[:2]
    return torch.cat([m.permute(0, 2, 3, 1).reshape(n, -1, k) for m in maps], dim=1)


class _Tower(nn.Module):
    """``num_convs`` 3x3 convs shared by every level, with a BatchNorm per (level, conv)."""

    def __init__(self, in_channels: int, channels: int, num_convs: int, num_levels: int):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1, bias=False)
            for i in range(num_convs)
        )
        self.norms = nn.ModuleList(
            nn.ModuleList(
                nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM) for _ in range(num_convs)
            )
            for _ in range(num_levels)
        )
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: Tensor, level: int) -> Tensor:
        for conv, norm in zip(self.convs, self.norms[level], strict=True):
            x = self.act(norm(conv(x)))
        return x


@MODELS.register()
class RTMDetHead(nn.Module):
    """Shared-conv, separate-BN decoupled head (RTMDet's ``SepBNHead``).

    Args:
        num_classes: C; labels are 0..C-1 (no background class).
        in_channels: width of the neck's levels (``None``: filled by the detector).
        feat_channels: width of the towers (default ``in_channels``).
        num_convs: stacked 3x3 convs per tower (RTMDet: 2).
        num_levels: pyramid levels (3: strides 8, 16, 32).
        share_conv: share the tower convs across levels (RTMDet); the prediction 1x1 convs
            are per level either way.
        prior_prob: initial foreground probability of the class logits.

    Output: class logits ``[N, A, C]`` and log box distances ``[N, A, 4]`` (left, top, right,
    bottom from each point, as ``log(distance / stride)``); the detector decodes them.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int | None = None,
        feat_channels: int | None = None,
        num_convs: int = 2,
        num_levels: int = 3,
        share_conv: bool = True,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        if in_channels is None:
            raise BuildError("RTMDetHead.in_channels: give the neck's out_channels")
        if num_classes < 1:
            raise BuildError(f"RTMDetHead.num_classes must be >= 1, got {num_classes}")
        feat = int(feat_channels or in_channels)
        self.num_classes = int(num_classes)
        self.num_levels = int(num_levels)
        towers = 1 if share_conv else num_levels
        self.cls_towers = nn.ModuleList(
            _Tower(in_channels, feat, num_convs, num_levels) for _ in range(towers)
        )
        self.reg_towers = nn.ModuleList(
            _Tower(in_channels, feat, num_convs, num_levels) for _ in range(towers)
        )
        self.cls_preds = nn.ModuleList(nn.Conv2d(feat, num_classes, 1) for _ in range(num_levels))
        self.reg_preds = nn.ModuleList(nn.Conv2d(feat, 4, 1) for _ in range(num_levels))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        bias = -math.log((1 - prior_prob) / prior_prob)
        for conv in self.cls_preds:
            nn.init.constant_(conv.bias, bias)

    def forward(self, features: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Levels [N, in, H_l, W_l] -> (class logits [N, A, C], log distances [N, A, 4])."""
        if len(features) != self.num_levels:
            raise ValueError(f"RTMDetHead: built for {self.num_levels} levels, got {len(features)}")
        cls, reg = [], []
        shared = len(self.cls_towers) == 1
        for level, x in enumerate(features):
            tower = 0 if shared else level
            cls.append(self.cls_preds[level](self.cls_towers[tower](x, level)))
            reg.append(self.reg_preds[level](self.reg_towers[tower](x, level)))
        return flatten_levels(cls), flatten_levels(reg).clamp(max=_MAX_LOG_DISTANCE)
