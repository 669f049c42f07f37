"""Building blocks of CSPNeXt and its PAFPN: conv-BN-SiLU, the CSPNeXt block (3x3 conv then
a 5x5 depthwise-separable conv), the CSP layer with optional channel attention, and SPPF."""

from __future__ import annotations

import torch
from torch import Tensor, nn

# RTMDet's BatchNorm: slow running statistics (momentum 0.03) and eps 1e-3.
BN_MOMENTUM = 0.03
BN_EPS = 1e-3


class ConvBNAct(nn.Sequential):
    """``Conv2d`` (no bias) -> ``BatchNorm2d`` -> ``SiLU``; padding keeps the size at stride 1."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
        groups: int = 1,
    ) -> None:  # fmt: skip
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                kernel_size // 2,
                groups=groups,
                bias=False,
            ),  # fmt: skip
            nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.SiLU(inplace=True),
        )


class DepthwiseSeparable(nn.Sequential):
    """A ``kernel_size`` depthwise ConvBNAct followed by a 1x1 pointwise ConvBNAct."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__(
            ConvBNAct(in_channels, in_channels, kernel_size, groups=in_channels),
            ConvBNAct(in_channels, out_channels, 1),
        )


class CSPNeXtBlock(nn.Module):
    """3x3 ConvBNAct, then a 5x5 depthwise-separable conv (the large kernel of CSPNeXt);
    a residual connection when ``add_identity`` and the widths agree."""

    def __init__(self, channels: int, add_identity: bool = True, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(channels, channels, 3)
        self.conv2 = DepthwiseSeparable(channels, channels, kernel_size)
        self.add_identity = add_identity

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class ChannelAttention(nn.Module):
    """Global average pool -> 1x1 conv (with bias) -> hard sigmoid, scaling each channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)
        self.act = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.act(self.fc(x.mean(dim=(2, 3), keepdim=True)))


class CSPLayer(nn.Module):
    """Cross-stage partial layer: two 1x1 branches of ``expand_ratio * out`` channels, one
    through ``num_blocks`` CSPNeXt blocks, concatenated, optionally reweighted by channel
    attention, and fused by a 1x1 conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_blocks: int = 1,
        add_identity: bool = True,
        expand_ratio: float = 0.5,
        channel_attention: bool = False,
    ) -> None:
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.main_conv = ConvBNAct(in_channels, mid, 1)
        self.short_conv = ConvBNAct(in_channels, mid, 1)
        self.blocks = nn.Sequential(*(CSPNeXtBlock(mid, add_identity) for _ in range(num_blocks)))
        self.attention = ChannelAttention(2 * mid) if channel_attention else nn.Identity()
        self.final_conv = ConvBNAct(2 * mid, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        both = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1)
        return self.final_conv(self.attention(both))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: a 1x1 conv to half width, three chained ``k x k``
    max-pools (receptive fields k, 2k-1, 3k-2), all four concatenated, a 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        mid = in_channels // 2
        self.conv1 = ConvBNAct(in_channels, mid, 1)
        self.pool = nn.MaxPool2d(kernel_size, stride=1, padding=kernel_size // 2)
        self.conv2 = ConvBNAct(4 * mid, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        return self.conv2(torch.cat((x, p1, p2, self.pool(p2)), dim=1))
