"""CSPNeXt-PAFPN: RTMDet's neck, a top-down then bottom-up path of CSP layers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detplug_core.errors import BuildError
from detplug_rtmdet.layers import ConvBNAct, CSPLayer
from detplug_rtmdet.registries import MODELS


@MODELS.register()
class CSPNeXtPAFPN(nn.Module):
    """Path-aggregation FPN with CSP layers (no channel attention) and 3x3 output convs.

    Top-down: the coarser map is reduced by a 1x1 conv to the finer map's width, upsampled
    (nearest, x2), concatenated with it and fused by a CSP layer. Bottom-up: a stride-2 3x3
    conv, concatenation with the top-down map of the next level, a CSP layer. Each level
    ends in a 3x3 ConvBNAct to ``out_channels``.

    Args:
        in_channels: the backbone's output widths, finest first (``None``: the detector
            fills them).
        out_channels: width of every output level.
        num_csp_blocks: CSPNeXt blocks per CSP layer (RTMDet: ``round(3 * deepen_factor)``).
        expand_ratio: width of the CSP branches.

    Inputs named ``c<k>`` come out as ``p<k>``.
    """

    def __init__(
        self,
        in_channels: Sequence[int] | None = None,
        out_channels: int = 128,
        num_csp_blocks: int = 1,
        expand_ratio: float = 0.5,
    ) -> None:
        super().__init__()
        if not in_channels or len(in_channels) < 2:
            raise BuildError("CSPNeXtPAFPN.in_channels: give two or more backbone widths")
        c = [int(x) for x in in_channels]
        n = len(c)
        self.in_channels = c
        self.out_channels = int(out_channels)
        # Top-down, coarsest first: reduce level i to level i-1's width, fuse with level i-1.
        self.reduce_layers = nn.ModuleList(
            ConvBNAct(c[i], c[i - 1], 1) for i in range(n - 1, 0, -1)
        )
        self.top_down_blocks = nn.ModuleList(
            CSPLayer(2 * c[i - 1], c[i - 1], num_csp_blocks, False, expand_ratio)
            for i in range(n - 1, 0, -1)
        )
        # Bottom-up, finest first.
        self.downsamples = nn.ModuleList(ConvBNAct(c[i], c[i], 3, stride=2) for i in range(n - 1))
        self.bottom_up_blocks = nn.ModuleList(
            CSPLayer(2 * c[i], c[i + 1], num_csp_blocks, False, expand_ratio) for i in range(n - 1)
        )
        self.out_convs = nn.ModuleList(ConvBNAct(c[i], self.out_channels, 3) for i in range(n))

    def forward(self, features: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
        """``{"c3": ..., "c4": ..., "c5": ...}`` -> ``{"p3", "p4", "p5"}`` of ``out_channels``."""
        names = list(features)
        inputs = list(features.values())
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f"CSPNeXtPAFPN: built for {len(self.in_channels)} levels, got {len(inputs)}"
            )
        # inner[0] is the current (finest so far) top-down map; reduced maps are kept.
        inner = [inputs[-1]]
        for k, i in enumerate(range(len(inputs) - 1, 0, -1)):
            reduced = self.reduce_layers[k](inner[0])
            inner[0] = reduced
            up = F.interpolate(reduced, size=inputs[i - 1].shape[-2:], mode="nearest")
            inner.insert(0, self.top_down_blocks[k](torch.cat((up, inputs[i - 1]), dim=1)))
        outs = [inner[0]]
        for i in range(len(inputs) - 1):
            down = self.downsamples[i](outs[-1])
            outs.append(self.bottom_up_blocks[i](torch.cat((down, inner[i + 1]), dim=1)))
        return OrderedDict(
            (("p" + name[1:]) if name.startswith("c") else name, conv(x))
            for name, conv, x in zip(names, self.out_convs, outs, strict=True)
        )
