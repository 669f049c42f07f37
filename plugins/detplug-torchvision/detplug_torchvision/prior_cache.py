"""A detector's priors (points, anchors) cached by the feature-map shapes they depend on."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor

Priors = TypeVar("Priors")


class PriorCache(Generic[Priors]):
    """``get(levels, make)``: ``make(shapes)`` for the ``(H, W)`` of each level, computed
    once per set of shapes (and ``key``, and device) and reused.

    Priors depend only on shapes, so training and evaluation at a few image sizes compute
    them a few times in all. They are made outside inference mode, so priors first made
    during an evaluation serve training too. While exporting, shapes are symbolic: nothing is
    cached and ``make`` gets the symbolic sizes, so the exported graph keeps them dynamic.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = int(max_entries)
        self._entries: dict[tuple, Priors] = {}

    def get(
        self,
        levels: Sequence[Tensor],
        make: Callable[[list[tuple[Any, Any]]], Priors],
        key: Hashable = None,
    ) -> Priors:
        """The priors of feature maps ``levels`` (``[N, C, H_l, W_l]``) by ``make``;
        ``key`` holds whatever else they depend on (the padded batch size, ...)."""
        if torch.compiler.is_exporting():
            return make([(x.shape[-2], x.shape[-1]) for x in levels])
        shapes = [(int(x.shape[-2]), int(x.shape[-1])) for x in levels]
        entry = (tuple(shapes), key, levels[0].device)
        if entry not in self._entries:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            with torch.inference_mode(False):
                self._entries[entry] = make(shapes)
        return self._entries[entry]

    def clear(self) -> None:
        self._entries.clear()
