"""Box <-> distance coding: a box as (left, top, right, bottom) distances from a point,
in units of the point's level stride (torchvision's BoxLinearCoder, normalize_by_size)."""

from __future__ import annotations

import torch
from torch import Tensor


def decode(deltas: Tensor, points: Tensor, sizes: Tensor) -> Tensor:
    """deltas [..., 4] (l, t, r, b) / size, points [..., 2], sizes [...] -> boxes [..., 4]."""
    d = deltas * sizes.unsqueeze(-1)
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x - d[..., 0], y - d[..., 1], x + d[..., 2], y + d[..., 3]), dim=-1)


def encode(boxes: Tensor, points: Tensor, sizes: Tensor) -> Tensor:
    """boxes [..., 4] xyxy, points [..., 2], sizes [...] -> deltas [..., 4] (l, t, r, b)/size."""
    x, y = points[..., 0], points[..., 1]
    ltrb = torch.stack(
        (x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y), -1
    )
    return ltrb / sizes.unsqueeze(-1)


def centerness(deltas: Tensor) -> Tensor:
    """deltas [..., 4] (l, t, r, b) -> sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) [...]."""
    lr, tb = deltas[..., 0::2], deltas[..., 1::2]
    ratio_lr = lr.min(dim=-1).values / lr.max(dim=-1).values
    ratio_tb = tb.min(dim=-1).values / tb.max(dim=-1).values
    return torch.sqrt(ratio_lr * ratio_tb)
