"""FCOS target assignment: which ground-truth box each point learns, if any."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from detplug_core.errors import BuildError
from detplug_fcos.registries import MODELS


@MODELS.register()
class FCOSAssigner:
    """A point is positive for a box when it lies inside the box, within
    ``center_sampling_radius * stride`` of the box centre (Chebyshev distance), and the
    box's largest point-to-side distance falls in the level's scale range. A point that
    qualifies for several boxes takes the smallest one.

    Args:
        center_sampling_radius: in units of the level stride; ``None`` or 0 turns centre
            sampling off (inside the box is enough).
        scale_ranges: ``[[lo, hi], ...]`` in pixels per level, open intervals; ``None`` is
            torchvision's rule: ``(4 s, 8 s)`` with the first level from 0 and the last to
            infinity, i.e. ``[[0, 64], [64, 128], [128, 256], [256, 512], [512, .inf]]``.
    """

    def __init__(
        self,
        center_sampling_radius: float | None = 1.5,
        scale_ranges: Sequence[Sequence[float]] | None = None,
    ) -> None:
        self.center_sampling_radius = center_sampling_radius
        self.scale_ranges = [tuple(map(float, r)) for r in scale_ranges] if scale_ranges else None
        if self.scale_ranges and any(len(r) != 2 for r in self.scale_ranges):
            raise BuildError(
                f"FCOSAssigner.scale_ranges: expected [lo, hi] pairs, got {scale_ranges}"
            )

    def point_ranges(self, sizes: Tensor, num_per_level: Sequence[int]) -> tuple[Tensor, Tensor]:
        """Lower and upper bound [A] of the regression range of each point."""
        if self.scale_ranges is None:
            lower, upper = sizes * 4, sizes * 8
            lower[: num_per_level[0]] = 0
            upper[-num_per_level[-1] :] = float("inf")
            return lower, upper
        if len(self.scale_ranges) != len(num_per_level):
            raise BuildError(
                f"FCOSAssigner.scale_ranges has {len(self.scale_ranges)} ranges for "
                f"{len(num_per_level)} levels"
            )
        counts = torch.tensor(num_per_level, device=sizes.device)
        ranges = torch.tensor(self.scale_ranges, device=sizes.device, dtype=sizes.dtype)
        per_point = ranges.repeat_interleave(counts, dim=0)
        return per_point[:, 0], per_point[:, 1]

    def __call__(
        self, points: Tensor, sizes: Tensor, lower: Tensor, upper: Tensor, gt_boxes: Tensor
    ) -> Tensor:
        """points [A, 2], sizes/lower/upper [A], gt_boxes [M, 4] -> matched box index [A]
        (-1: background)."""
        if gt_boxes.numel() == 0:
            return torch.full((points.shape[0],), -1, dtype=torch.long, device=points.device)
        x, y = points[:, 0:1], points[:, 1:2]  # [A, 1]
        x0, y0, x1, y1 = gt_boxes.unsqueeze(0).unbind(dim=2)  # [1, M] each
        ltrb = torch.stack((x - x0, y - y0, x1 - x, y1 - y), dim=2)  # [A, M, 4]
        match = ltrb.min(dim=2).values > 0
        farthest = ltrb.max(dim=2).values
        match &= (farthest > lower[:, None]) & (farthest < upper[:, None])
        if self.center_sampling_radius:
            centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2  # [M, 2]
            offset = (points[:, None, :] - centres[None]).abs_().max(dim=2).values  # [A, M]
            match &= offset < self.center_sampling_radius * sizes[:, None]
        areas = (gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1])
        masked = torch.where(match, areas[None, :], torch.full_like(areas, float("inf")))
        smallest, index = masked.min(dim=1)
        index[smallest == float("inf")] = -1
        return index
