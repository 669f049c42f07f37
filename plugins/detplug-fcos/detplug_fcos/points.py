"""Locations of the head's outputs: one point per feature-map cell, level by level."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from detplug_core.errors import BuildError


def level_points(
    shapes: Sequence[tuple[int, int]],
    image_size: tuple[int, int],
    strides: Sequence[int],
    offset: float = 0.0,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """Points of every level, flattened in the head's order (level, row, column).

    The step between points of a level is ``image_size // shape`` (as torchvision's
    AnchorGenerator: exact when the batch is a multiple of the coarsest stride), the first
    point of a row sits at ``offset * step`` (torchvision: 0, mmdetection: 0.5).

    Returns ``points`` [A, 2] (x, y) in batch pixels and ``sizes`` [A], the nominal stride
    of each point's level, which scales box distances and scale ranges.
    """
    if len(shapes) != len(strides):
        raise BuildError(
            f"the neck gives {len(shapes)} levels but {len(strides)} strides are configured "
            f"({list(strides)}); set FCOS.strides to one per level"
        )
    points, sizes = [], []
    for (h, w), stride in zip(shapes, strides, strict=True):
        step_y, step_x = image_size[0] // h, image_size[1] // w
        xs = (torch.arange(w, device=device, dtype=torch.float32) + offset) * step_x
        ys = (torch.arange(h, device=device, dtype=torch.float32) + offset) * step_y
        # A broadcasting add instead of meshgrid's expand keeps an exported graph right for
        # every feature size, 1 included.
        grid_x = (xs[None, :] + 0 * ys[:, None]).reshape(-1)
        grid_y = (ys[:, None] + 0 * xs[None, :]).reshape(-1)
        points.append(torch.stack((grid_x, grid_y), dim=1))
        sizes.append(torch.full((h * w,), float(stride), device=device))
    return torch.cat(points), torch.cat(sizes)
