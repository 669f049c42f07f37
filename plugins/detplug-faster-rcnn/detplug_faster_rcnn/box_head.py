"""The two fully connected layers that turn pooled RoI features into a box embedding."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from detplug_faster_rcnn.registries import MODELS


@MODELS.register()
class TwoMLPHead(nn.Module):
    """Flatten, then fc6 + ReLU, fc7 + ReLU (torchvision's TwoMLPHead, MMDetection's
    Shared2FCBBoxHead trunk)."""

    def __init__(self, in_channels: int = 256, roi_size: int = 7, representation_size: int = 1024):
        super().__init__()
        self.out_channels = representation_size
        self.fc6 = nn.Linear(in_channels * roi_size * roi_size, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features [R, C, S, S] -> embeddings [R, representation_size]."""
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))
