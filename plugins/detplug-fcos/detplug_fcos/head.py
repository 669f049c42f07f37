"""FCOS head: GroupNorm conv towers, class logits, box distances and centerness."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from detplug_core.errors import BuildError
from detplug_fcos.registries import MODELS


def _tower(in_channels: int, channels: int, num_convs: int, groups: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers.append(nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1))
        layers.append(nn.GroupNorm(groups, channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _ClassificationBranch(nn.Module):
    def __init__(self, in_channels: int, feat: int, num_convs: int, classes: int, groups: int):
        super().__init__()
        self.conv = _tower(in_channels, feat, num_convs, groups)
        self.cls_logits = nn.Conv2d(feat, classes, 3, padding=1)


class _RegressionBranch(nn.Module):
    def __init__(self, in_channels: int, feat: int, num_convs: int, groups: int):
        super().__init__()
        self.conv = _tower(in_channels, feat, num_convs, groups)
        self.bbox_reg = nn.Conv2d(feat, 4, 3, padding=1)
        self.bbox_ctrness = nn.Conv2d(feat, 1, 3, padding=1)


def _flatten_levels(maps: list[Tensor]) -> Tensor:
    """[N, K, H_l, W_l] per level -> [N, sum_l H_l*W_l, K] (level-major, then row-major)."""
    n, k = maps[0].shape[:2]
    if torch.is_grad_enabled() and maps[0].requires_grad:
        # Autograd: cat has a cheap backward (slices), unlike copies into one buffer.
        return torch.cat([m.permute(0, 2, 3, 1).reshape(n, -1, k) for m in maps], dim=1)
    total = sum(m.shape[2] * m.shape[3] for m in maps)
    out = maps[0].new_empty((n, total, k))
    start = 0
    for m in maps:
        hw = m.shape[2] * m.shape[3]
        # One copy per level, straight into place (no permute-then-cat double copy).
        out[:, start : start + hw].view(n, m.shape[2], m.shape[3], k).copy_(m.permute(0, 2, 3, 1))
        start += hw
    return out


@MODELS.register()
class FCOSHead(nn.Module):
    """Shared-weight head run on every pyramid level.

    Args:
        num_classes: C; labels are 0..C-1 (no background class).
        in_channels: width of the neck's outputs (``None``: filled by the detector).
        feat_channels: width of the towers (default ``in_channels``).
        num_convs: convs per tower (classification and regression towers are separate).
        prior_prob: initial foreground probability of the class logits.
        norm_groups: GroupNorm groups in the towers.

    Parameter names match torchvision's ``FCOSHead`` (``classification_head.conv.0.weight``,
    ``classification_head.cls_logits``, ``regression_head.bbox_reg``,
    ``regression_head.bbox_ctrness``).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int | None = None,
        feat_channels: int | None = None,
        num_convs: int = 4,
        prior_prob: float = 0.01,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        if in_channels is None:
            raise BuildError("FCOSHead.in_channels: give the neck's out_channels")
        if num_classes < 1:
            raise BuildError(f"FCOSHead.num_classes must be >= 1, got {num_classes}")
        feat = feat_channels or in_channels
        if feat % norm_groups:
            raise BuildError(f"FCOSHead: feat_channels {feat} not divisible by norm_groups")
        self.num_classes = num_classes
        self.classification_head = _ClassificationBranch(
            in_channels, feat, num_convs, num_classes, norm_groups
        )
        self.regression_head = _RegressionBranch(in_channels, feat, num_convs, norm_groups)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        bias = -math.log((1 - prior_prob) / prior_prob)
        nn.init.constant_(self.classification_head.cls_logits.bias, bias)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Levels [N, in, H_l, W_l] -> (class logits [N, A, C], box distances [N, A, 4] in
        units of the level's stride, centerness logits [N, A]); A = sum_l H_l * W_l."""
        cls, box, ctr = [], [], []
        ch, rh = self.classification_head, self.regression_head
        for x in features:
            cls.append(ch.cls_logits(ch.conv(x)))
            r = rh.conv(x)
            box.append(torch.relu(rh.bbox_reg(r)))
            ctr.append(rh.bbox_ctrness(r))
        return _flatten_levels(cls), _flatten_levels(box), _flatten_levels(ctr).squeeze(2)
