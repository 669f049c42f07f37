"""MobileNetV3 trunk over ``torchvision.models.mobilenetv3``, cut at its strided stages."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn
from torchvision.models import mobilenetv3 as tv_mobilenet
from torchvision.models._utils import IntermediateLayerGetter

from detplug_core.errors import BuildError
from detplug_torchvision.backbones.base import FreezableBackbone, init_from_checkpoint, norm_layer
from detplug_torchvision.registries import MODELS

_ARCHS = {"large": tv_mobilenet.mobilenet_v3_large, "small": tv_mobilenet.mobilenet_v3_small}


@MODELS.register()
class MobileNetV3(FreezableBackbone):
    """torchvision's MobileNetV3 ``features`` returning the outputs of selected stages.

    Stages follow torchvision's detection extractor: stage 0 is the stem, stages 1..4 end
    before each stride-2 block, stage 5 is the final 1x1 conv (stride 32, 960 channels for
    ``large``). The default ``out_indices=(4, 5)`` is what torchvision's
    ``fasterrcnn_mobilenet_v3_large_fpn`` feeds its FPN. Outputs are named ``stage<k>``.

    Args:
        arch: ``"large"`` or ``"small"``.
        out_indices: stages to return (0..5).
        frozen_stages: -1 trains everything; k freezes the blocks before stage k+1's start
            (torchvision's ``trainable_layers=t`` is ``frozen_stages=5-t``).
        norm, norm_eval, init: as for :class:`ResNet`; parameter names are torchvision's
            ``features.<i>`` under ``body.<i>`` (prefix ``features.`` for an ImageNet file).
    """

    def __init__(
        self,
        arch: str = "large",
        out_indices: Sequence[int] = (4, 5),
        frozen_stages: int = -1,
        norm: str = "FrozenBN",
        norm_eval: bool = False,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise BuildError(f"MobileNetV3.arch must be 'large' or 'small', got {arch!r}")
        features = _ARCHS[arch](weights=None, norm_layer=norm_layer(norm)).features
        starts = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
        starts.append(len(features) - 1)
        stages = sorted(set(out_indices))
        if not stages or min(stages) < 0 or max(stages) >= len(starts):
            raise BuildError(f"MobileNetV3.out_indices must be in 0..5, got {list(out_indices)}")
        if not -1 <= frozen_stages <= 5:
            raise BuildError(f"MobileNetV3.frozen_stages must be in -1..5, got {frozen_stages}")
        self.norm_eval = norm_eval
        self.out_names = [f"stage{k}" for k in stages]
        self.out_channels = [features[starts[k]].out_channels for k in stages]
        self.out_strides = [2 ** min(k + 1, 5) for k in stages]
        # Blocks with an index below this are frozen.
        if frozen_stages < 0:
            self._frozen_until = 0
        elif frozen_stages + 1 < len(starts):
            self._frozen_until = starts[frozen_stages + 1]
        else:
            self._frozen_until = len(features)
        self.body = IntermediateLayerGetter(
            features, {str(starts[k]): name for k, name in zip(stages, self.out_names, strict=True)}
        )
        init_from_checkpoint(self.body, init, "MobileNetV3")
        self.freeze_stages()

    def frozen_modules(self) -> list[nn.Module]:
        return [m for name, m in self.body.named_children() if int(name) < self._frozen_until]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """x: [N, 3, H, W] -> {"stage4": [N, 160, H/32, W/32], "stage5": [N, 960, ...]}."""
        return self.body(x)
