"""CSPNeXt: the backbone of RTMDet (a stem of three 3x3 convs, four CSP stages with 5x5
depthwise convs and channel attention, SPPF before the last stage's CSP layer)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from detplug_torchvision.backbones import FreezableBackbone, init_from_checkpoint
from torch import Tensor, nn

from detplug_core.errors import BuildError
from detplug_rtmdet.layers import SPPF, ConvBNAct, CSPLayer
from detplug_rtmdet.registries import MODELS

# Per stage of the P5 network, before widen/deepen: (in, out, blocks, residual, SPPF).
_STAGES = (
    (64, 128, 3, True, False),
    (128, 256, 6, True, False),
    (256, 512, 6, True, False),
    (512, 1024, 3, False, True),
)


@MODELS.register()
class CSPNeXt(FreezableBackbone):
    """CSPNeXt-P5 (Lyu et al., RTMDet), returning an ``OrderedDict`` of stage outputs.

    Args:
        widen_factor: channel multiplier (tiny 0.375, s 0.5, m 0.75, l 1.0).
        deepen_factor: block-count multiplier (tiny 0.167, s 0.33, m 0.67, l 1.0).
        out_indices: stages to return, 1..4 (strides 4, 8, 16, 32); named ``c2``..``c5``.
        expand_ratio: width of the CSP branches relative to the stage width.
        channel_attention: the channel attention of the CSP layers.
        frozen_stages: -1 trains everything; 0 freezes the stem; k the stem and stages 1..k.
        norm_eval: keep the BatchNorms in eval mode while training.
        init: ``{checkpoint: PATH, prefix: ""}``: ImageNet-pretrained weights from a local
            file (optional; detplug ships none).
    """

    def __init__(
        self,
        widen_factor: float = 0.5,
        deepen_factor: float = 0.33,
        out_indices: Sequence[int] = (2, 3, 4),
        expand_ratio: float = 0.5,
        channel_attention: bool = True,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not out_indices or any(i not in (1, 2, 3, 4) for i in out_indices):
            raise BuildError(f"CSPNeXt.out_indices: stages are 1..4, got {list(out_indices)}")
        if not -1 <= frozen_stages <= 4:
            raise BuildError(f"CSPNeXt.frozen_stages must be in -1..4, got {frozen_stages}")
        stem = int(_STAGES[0][0] * widen_factor)
        self.stem = nn.Sequential(
            ConvBNAct(3, stem // 2, 3, stride=2),
            ConvBNAct(stem // 2, stem // 2, 3),
            ConvBNAct(stem // 2, stem, 3),
        )
        channels = []
        for i, (c_in, c_out, blocks, residual, sppf) in enumerate(_STAGES, start=1):
            c_in, c_out = int(c_in * widen_factor), int(c_out * widen_factor)
            layers: list[nn.Module] = [ConvBNAct(c_in, c_out, 3, stride=2)]
            if sppf:
                layers.append(SPPF(c_out, c_out))
            layers.append(
                CSPLayer(
                    c_out,
                    c_out,
                    max(round(blocks * deepen_factor), 1),
                    residual,
                    expand_ratio,
                    channel_attention,
                )  # fmt: skip
            )
            self.add_module(f"stage{i}", nn.Sequential(*layers))
            channels.append(c_out)
        self.out_indices = [int(i) for i in out_indices]
        self.out_channels = [channels[i - 1] for i in self.out_indices]
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        init_from_checkpoint(self, init, "CSPNeXt")
        self.freeze_stages()

    def frozen_modules(self) -> list[nn.Module]:
        parts = [self.stem] + [getattr(self, f"stage{i}") for i in range(1, 5)]
        return parts[: self.frozen_stages + 1]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """[N, 3, H, W] -> ``{"c3": [N, C3, H/8, W/8], ...}`` for the chosen stages."""
        x = self.stem(x)
        outs: OrderedDict[str, Tensor] = OrderedDict()
        for i in range(1, 5):
            x = getattr(self, f"stage{i}")(x)
            if i in self.out_indices:
                outs[f"c{i + 1}"] = x
        return outs
