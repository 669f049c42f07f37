"""Points of the head's outputs and the box coding from them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from detplug_core.errors import BuildError


def level_points(
    shapes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    offset: float = 0.0,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """One point per feature-map cell, flattened as the head flattens (level, row, column).

    A level of stride s has its points at ``((j + offset) * s, (i + offset) * s)`` (RTMDet:
    offset 0, the cell's top-left corner). Returns ``points`` [A, 2] (x, y) in batch pixels
    and ``strides`` [A], the stride of each point's level.
    """
    if len(shapes) != len(strides):
        raise BuildError(
            f"the neck gives {len(shapes)} levels but {len(strides)} strides are configured "
            f"({list(strides)}); set RTMDet.strides to one per level"
        )
    points, sizes = [], []
    for (h, w), stride in zip(shapes, strides, strict=True):
        xs = (torch.arange(w, device=device, dtype=torch.float32) + offset) * stride
        ys = (torch.arange(h, device=device, dtype=torch.float32) + offset) * stride
        # A broadcasting add instead of meshgrid's expand: an exported graph stays right for
        # every feature size, 1 included.
        grid_x = (xs[None, :] + 0 * ys[:, None]).reshape(-1)
        grid_y = (ys[:, None] + 0 * xs[None, :]).reshape(-1)
        points.append(torch.stack((grid_x, grid_y), dim=1))
        sizes.append(torch.full((h * w,), float(stride), device=device))
    return torch.cat(points), torch.cat(sizes)


def decode(log_distances: Tensor, points: Tensor, strides: Tensor) -> Tensor:
    """log_distances [..., 4] (log of left, top, right, bottom / stride), points [..., 2],
    strides [...] -> boxes [..., 4] xyxy pixels."""
    d = log_distances.exp() * strides.unsqueeze(-1)
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x - d[..., 0], y - d[..., 1], x + d[..., 2], y + d[..., 3]), dim=-1)
