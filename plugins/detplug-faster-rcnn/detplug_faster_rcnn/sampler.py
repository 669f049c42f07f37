"""Random positive/negative sampling of anchors (RPN) or proposals (RoI head)."""

from __future__ import annotations

import torch
from torch import Tensor


class BalancedSampler:
    """Draws at most ``num * positive_fraction`` positives, then fills ``num`` with negatives.

    ``labels`` per image: -1 ignored, 0 negative, >= 1 positive. Draws use
    ``torch.randperm`` on the labels' device, one for the positives then one for the
    negatives of each image, in image order: the same random stream as torchvision's
    ``BalancedPositiveNegativeSampler``, so both pick the same elements under one seed.
    """

    def __init__(self, num: int, positive_fraction: float) -> None:
        self.num = num
        self.positive_fraction = positive_fraction

    def __call__(self, labels: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """Per image: (sampled positive indices, sampled negative indices), both int64."""
        sampled = []
        for labels_per_image in labels:
            positive = torch.where(labels_per_image >= 1)[0]
            negative = torch.where(labels_per_image == 0)[0]
            num_pos = min(positive.numel(), int(self.num * self.positive_fraction))
            num_neg = min(negative.numel(), self.num - num_pos)
            pos_perm = torch.randperm(positive.numel(), device=positive.device)[:num_pos]
            neg_perm = torch.randperm(negative.numel(), device=negative.device)[:num_neg]
            sampled.append((positive[pos_perm], negative[neg_perm]))
        return sampled
