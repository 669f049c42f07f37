"""The RPN's convolutional head: objectness and box deltas for every anchor."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detplug_faster_rcnn.registries import MODELS


def flatten_level(x: Tensor, width: int) -> Tensor:
    """[N, A * width, H, W] -> [N, H * W * A, width] (location-major, then anchor)."""
    n, _, h, w = x.shape
    return x.view(n, -1, width, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, width)


@MODELS.register()
class RPNHead(nn.Module):
    """``num_convs`` 3x3 conv + ReLU, then 1x1 convs to A objectness logits and 4A deltas,
    shared over pyramid levels (torchvision's RPNHead)."""

    def __init__(self, in_channels: int = 256, num_anchors: int = 3, num_convs: int = 1) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.conv = nn.Sequential(
            *(
                nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU(True))
                for _ in range(num_convs)
            )
        )
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Features [N, C, H_l, W_l] -> objectness [N, sum HWA], deltas [N, sum HWA, 4], both
        float32 (also under autocast: box coding needs the precision)."""
        logits, deltas = [], []
        for x in features:
            t = self.conv(x)
            logits.append(flatten_level(self.cls_logits(t), 1))
            deltas.append(flatten_level(self.bbox_pred(t), 4))
        logits_, deltas_ = torch.cat(logits, dim=1).squeeze(-1), torch.cat(deltas, dim=1)
        return _at_least_float32(logits_), _at_least_float32(deltas_)


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 (autocast) -> float32; float32 and float64 models keep theirs."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
