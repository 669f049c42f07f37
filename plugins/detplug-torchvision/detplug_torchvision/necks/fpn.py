"""FPN neck over ``torchvision.ops.FeaturePyramidNetwork`` with torchvision's extra levels."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import (
    FeaturePyramidNetwork,
    LastLevelMaxPool,
    LastLevelP6P7,
)

from detplug_core.errors import BuildError
from detplug_torchvision.registries import MODELS

_EXTRA_BLOCKS = (None, "p6p7", "pool")
_LEVEL_NAME = re.compile(r"^c(\d+)$")


class P6P7(LastLevelP6P7):
    """torchvision's ``LastLevelP6P7`` with the input chosen explicitly.

    torchvision picks P5 when ``in_channels == out_channels`` and C5 otherwise; here
    ``from_p5`` decides, so a 512-channel FPN on ResNet-18 can still take C5."""

    def __init__(self, in_channels: int, out_channels: int, from_p5: bool) -> None:
        super().__init__(in_channels, out_channels)
        self.use_P5 = from_p5


@MODELS.register()
class FPN(nn.Module):
    """Feature pyramid on a backbone's ``OrderedDict`` of feature maps.

    Args:
        in_channels: channels of each input map, in order (finest first). ``None`` lets the
            detector fill it from ``backbone.out_channels``.
        out_channels: width of every output level.
        extra_blocks: ``None``; ``"p6p7"`` (two stride-2 3x3 convs, ReLU between: P6 and P7,
            as in torchvision's FCOS and RetinaNet); ``"pool"`` (P6 by stride-2 subsampling
            of P5, as in torchvision's Faster R-CNN).
        p6p7_in: input of P6 for ``"p6p7"``: ``"p5"`` (torchvision's ``fcos_resnet50_fpn``
            and ``retinanet_resnet50_fpn``) or ``"c5"`` (``retinanet_resnet50_fpn_v2``).

    Inputs named ``c<k>`` come out as ``p<k>``; the extra levels continue the numbering
    (``p6``, ``p7``). Parameter names are torchvision's under ``fpn.``
    (``fpn.inner_blocks.0.0.weight``, ``fpn.extra_blocks.p6.weight``), so torchvision's
    ``backbone.fpn.*`` keys map to ``neck.fpn.*``.
    """

    def __init__(
        self,
        in_channels: Sequence[int] | None = None,
        out_channels: int = 256,
        extra_blocks: str | None = None,
        p6p7_in: str = "p5",
    ) -> None:
        super().__init__()
        if not in_channels:
            raise BuildError("FPN.in_channels: give the backbone's output channels")
        if extra_blocks not in _EXTRA_BLOCKS:
            raise BuildError(
                f"FPN.extra_blocks must be one of {_EXTRA_BLOCKS}, got {extra_blocks!r}"
            )
        if p6p7_in not in ("p5", "c5"):
            raise BuildError(f"FPN.p6p7_in must be 'p5' or 'c5', got {p6p7_in!r}")
        extra: nn.Module | None = None
        if extra_blocks == "p6p7":
            p6_in = out_channels if p6p7_in == "p5" else in_channels[-1]
            extra = P6P7(p6_in, out_channels, from_p5=p6p7_in == "p5")
        elif extra_blocks == "pool":
            extra = LastLevelMaxPool()
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = len(in_channels) + {None: 0, "p6p7": 2, "pool": 1}[extra_blocks]
        self.fpn = FeaturePyramidNetwork(self.in_channels, out_channels, extra_blocks=extra)

    def forward(self, features: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
        """{"c3": [N, C3, H3, W3], ...} -> {"p3": [N, out, H3, W3], ..., "p7": ...}."""
        if len(features) != len(self.in_channels):
            raise ValueError(
                f"FPN built for {len(self.in_channels)} inputs, got {len(features)}: "
                f"{list(features)}"
            )
        out = self.fpn(features)
        return OrderedDict(zip(_output_names(list(out)), out.values(), strict=True))


def _output_names(names: list[str]) -> list[str]:
    """``c3, c4, c5, p6, p7`` -> ``p3..p7``; ``c2..c5, pool`` -> ``p2..p6``."""
    result: list[str] = []
    last: int | None = None
    for name in names:
        match = _LEVEL_NAME.match(name)
        if match:
            last = int(match.group(1))
            result.append(f"p{last}")
        elif name == "pool" and last is not None:
            result.append(f"p{last + 1}")
        else:
            result.append(name)
    return result
