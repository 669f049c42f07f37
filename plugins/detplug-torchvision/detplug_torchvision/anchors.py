"""Anchor boxes of several sizes and aspect ratios at every location of each feature level."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from detplug_torchvision.registries import MODELS


@MODELS.register()
class AnchorGenerator(nn.Module):
    """Anchors for a padded image batch, identical for every image of the batch.

    ``sizes[l]`` and ``aspect_ratios[l]`` (height / width) give level ``l``'s anchors:
    ``len(sizes[l]) * len(aspect_ratios[l])`` per location, ordered ratio-major then size,
    centred on ``(x * stride, y * stride)`` (torchvision's convention). Base anchors are
    rounded to integer coordinates as torchvision does.

    ``strides=None`` infers each level's stride as ``padded_size // feature_size``, exactly
    like torchvision's AnchorGenerator (needed to reproduce its checkpoints); explicit
    ``strides`` give the nominal ones.
    """

    def __init__(
        self,
        sizes: Sequence[Sequence[float]],
        aspect_ratios: Sequence[Sequence[float]] | Sequence[float] = (0.5, 1.0, 2.0),
        strides: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        sizes = [list(s) if isinstance(s, Sequence) else [s] for s in sizes]
        if aspect_ratios and not isinstance(aspect_ratios[0], Sequence):
            aspect_ratios = [list(aspect_ratios)] * len(sizes)
        if len(aspect_ratios) != len(sizes):
            raise ValueError(
                f"AnchorGenerator: {len(sizes)} levels of sizes but {len(aspect_ratios)} "
                "levels of aspect_ratios"
            )
        if strides is not None and len(strides) != len(sizes):
            raise ValueError(f"AnchorGenerator: {len(sizes)} levels but {len(strides)} strides")
        self.sizes = sizes
        self.aspect_ratios = [list(r) for r in aspect_ratios]
        self.strides = list(strides) if strides is not None else None
        self.base_anchors = [
            self._base(s, r) for s, r in zip(self.sizes, self.aspect_ratios, strict=True)
        ]
        self._cache: dict[tuple, Tensor] = {}

    @staticmethod
    def _base(sizes: list[float], ratios: list[float]) -> Tensor:
        """Zero-centred anchors [A, 4] of one level."""
        scales = torch.as_tensor(sizes, dtype=torch.float32)
        h_ratios = torch.as_tensor(ratios, dtype=torch.float32).sqrt()
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()

    @property
    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios, strict=True)]

    def forward(
        self,
        padded_size: tuple[int, int],
        feature_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """Anchors [sum_l H_l * W_l * A_l, 4] in xyxy pixels, level-major, then y, x, anchor."""
        if len(feature_sizes) != len(self.base_anchors):
            raise ValueError(
                f"AnchorGenerator has {len(self.base_anchors)} levels, got "
                f"{len(feature_sizes)} feature maps"
            )
        if torch.compiler.is_exporting():  # symbolic sizes: no cache keyed by them
            return self._grid(padded_size, feature_sizes, dtype, torch.device(device))
        key = (tuple(padded_size), tuple(map(tuple, feature_sizes)), dtype, str(device))
        anchors = self._cache.get(key)
        if anchors is None:
            if len(self._cache) > 16:  # a new padded size per batch must not grow memory
                self._cache.clear()
            anchors = self._grid(padded_size, feature_sizes, dtype, torch.device(device))
            self._cache[key] = anchors
        return anchors

    def _grid(
        self,
        padded_size: tuple[int, int],
        feature_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype,
        device: torch.device,
    ) -> Tensor:
        levels = []
        for i, ((h, w), base) in enumerate(zip(feature_sizes, self.base_anchors, strict=True)):
            if self.strides is None:
                stride_y, stride_x = padded_size[0] // h, padded_size[1] // w
            else:
                stride_y = stride_x = self.strides[i]
            # Integer shifts as torchvision computes them, then offset the base anchors.
            xs = torch.arange(w, dtype=torch.int32, device=device) * stride_x
            ys = torch.arange(h, dtype=torch.int32, device=device) * stride_y
            # A broadcasting add instead of meshgrid's expand: right in an exported graph
            # for every feature size, 1 included.
            sx = (xs[None, :] + 0 * ys[:, None]).reshape(-1)
            sy = (ys[:, None] + 0 * xs[None, :]).reshape(-1)
            shifts = torch.stack((sx, sy, sx, sy), dim=-1).reshape(-1, 1, 4)  # [HW, 1, 4]
            base = base.to(dtype=dtype, device=device).reshape(1, -1, 4)  # [1, A, 4]
            levels.append((shifts + base).reshape(-1, 4))  # [HW * A, 4]
        return torch.cat(levels)
