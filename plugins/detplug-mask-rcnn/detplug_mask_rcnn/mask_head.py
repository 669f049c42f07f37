"""The mask branch's layers (He et al. 2017, Fig. 4 right, FPN variant): a stack of 3x3
convolutions on the 14x14 RoIAlign features, then a 2x2 stride-2 deconvolution to 28x28 and
one 1x1 mask logit map per class."""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn

from detplug_mask_rcnn.registries import MODELS


def _kaiming(layer: nn.Conv2d | nn.ConvTranspose2d) -> None:
    """He initialisation for a layer followed by ReLU (fan-out), zero bias."""
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(layer.bias)


@MODELS.register()
class MaskConvHead(nn.Module):
    """``num_convs`` 3x3 convolutions (padding keeps the size), each followed by ReLU:
    pooled RoIs ``[R, in_channels, S, S]`` -> ``[R, conv_channels, S, S]``."""

    def __init__(
        self, in_channels: int = 256, num_convs: int = 4, conv_channels: int = 256
    ) -> None:
        super().__init__()
        if num_convs < 1:
            raise ValueError(f"MaskConvHead: num_convs must be at least 1, got {num_convs}")
        widths = [in_channels] + [conv_channels] * num_convs
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out in itertools.pairwise(widths)
        )
        for conv in self.convs:
            _kaiming(conv)
        self.out_channels = conv_channels

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        return x


@MODELS.register()
class MaskPredictor(nn.Module):
    """A 2x2 stride-2 transposed convolution + ReLU doubles the size (14 -> 28), then a 1x1
    convolution gives one mask logit map per class: ``[R, in_channels, S, S]`` ->
    ``[R, num_classes + 1, 2S, 2S]``, index 0 the background (torchvision's layout, as the
    box classifier's), so a class's map is at its 1-based label."""

    def __init__(self, num_classes: int, in_channels: int = 256, deconv_channels: int = 256):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, deconv_channels, 2, stride=2)
        self.logits = nn.Conv2d(deconv_channels, num_classes + 1, 1)
        _kaiming(self.deconv)
        _kaiming(self.logits)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(F.relu(self.deconv(x)))
