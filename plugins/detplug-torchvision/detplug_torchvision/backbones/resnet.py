"""ResNet trunk over ``torchvision.models.resnet`` returning a dict of feature maps."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn
from torchvision.models import resnet as tv_resnet
from torchvision.models._utils import IntermediateLayerGetter

from detplug_core.errors import BuildError
from detplug_torchvision.backbones._fused import FoldedConvBN, can_fold
from detplug_torchvision.backbones.base import FreezableBackbone, init_from_checkpoint, norm_layer
from detplug_torchvision.pretrained import fetch_state_dict
from detplug_torchvision.registries import MODELS

_ARCHS = {
    18: (tv_resnet.resnet18, 1),
    34: (tv_resnet.resnet34, 1),
    50: (tv_resnet.resnet50, 4),
    101: (tv_resnet.resnet101, 4),
    152: (tv_resnet.resnet152, 4),
}
_STAGE_ALIASES = {f"layer{i}": i for i in range(1, 5)} | {f"c{i + 1}": i for i in range(1, 5)}


def _stage_index(item: int | str) -> int:
    index = _STAGE_ALIASES.get(item) if isinstance(item, str) else item
    if index not in (1, 2, 3, 4):
        raise BuildError(
            f"ResNet.out_indices: {item!r} is not a stage; use 1..4 or layer1..layer4 / c2..c5"
        )
    return index


@MODELS.register()
class ResNet(FreezableBackbone):
    """A torchvision ResNet without its classifier, returning ``OrderedDict`` of stage outputs.

    Args:
        depth: 18, 34, 50, 101 or 152.
        out_indices: stages to return, 1..4 (``layer1``..``layer4``) or their names
            (``"layer2"`` or ``"c3"``). Outputs are named ``c2``..``c5`` (``c<log2 stride>``).
        frozen_stages: -1 trains everything; 0 freezes the stem (conv1, bn1); k freezes the
            stem and layer1..layerk, which are also kept in eval mode. torchvision's
            ``trainable_backbone_layers=3`` is ``frozen_stages=1``.
        norm: ``"FrozenBN"`` (``torchvision.ops.misc.FrozenBatchNorm2d``) or ``"BN"``.
        norm_eval: keep every BatchNorm in eval mode while training (``norm="BN"`` only).
        init: ``{checkpoint: PATH, prefix: ""}`` to load weights from a local file.
        weights: torchvision's ImageNet weights by name, e.g. ``ResNet50_Weights.IMAGENET1K_V1``
            (read from torchvision's cache, see :mod:`detplug_torchvision.pretrained`).

    Parameter names are torchvision's under ``body.`` (``body.layer1.0.conv1.weight``), so a
    torchvision ImageNet checkpoint loads with ``prefix: ""`` and a detection checkpoint
    with ``prefix: "backbone.body."``.
    """

    def __init__(
        self,
        depth: int = 50,
        out_indices: Sequence[int | str] = (2, 3, 4),
        frozen_stages: int = 1,
        norm: str = "FrozenBN",
        norm_eval: bool = False,
        init: Mapping[str, Any] | None = None,
        weights: str | None = None,
    ) -> None:
        super().__init__()
        if depth not in _ARCHS:
            raise BuildError(f"ResNet.depth must be one of {sorted(_ARCHS)}, got {depth!r}")
        if not -1 <= frozen_stages <= 4:
            raise BuildError(f"ResNet.frozen_stages must be in -1..4, got {frozen_stages}")
        stages = sorted({_stage_index(i) for i in out_indices})
        if not stages:
            raise BuildError("ResNet.out_indices is empty")
        build, expansion = _ARCHS[depth]
        net = build(weights=None, norm_layer=norm_layer(norm))
        self.depth = depth
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.out_names = [f"c{i + 1}" for i in stages]
        self.out_channels = [64 * 2 ** (i - 1) * expansion for i in stages]
        self.out_strides = [2 ** (i + 1) for i in stages]
        self.body = IntermediateLayerGetter(
            net,
            return_layers={
                f"layer{i}": name for i, name in zip(stages, self.out_names, strict=True)
            },
        )
        if init is not None and weights is not None:
            raise BuildError("ResNet: give init or weights, not both")
        init_from_checkpoint(self.body, init, "ResNet")
        if weights is not None:
            load_torchvision_weights(self.body, weights, depth)
        self.freeze_stages()
        self._return_layers = dict(self.body.return_layers)
        self._folder = FoldedConvBN() if norm == "FrozenBN" else None

    def frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        names = ["conv1", "bn1"] + [f"layer{i}" for i in range(1, self.frozen_stages + 1)]
        return [getattr(self.body, n) for n in names if hasattr(self.body, n)]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """x: [N, 3, H, W] -> {"c3": [N, C3, H/8, W/8], ...} for the selected stages."""
        if self._folder is not None and can_fold(self.body):
            # Same result as self.body(x), with each frozen BN folded into its conv.
            return self._folder.forward(x, self.body, self._return_layers)
        return self.body(x)


def supported_weights(depth: int) -> list[str]:
    """torchvision's weights names for a ResNet of ``depth`` (``ResNet50_Weights.IMAGENET1K_V1``
    and the other variants of that enum)."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(f"resnet{depth}")
    return [f"{enum.__name__}.{member.name}" for member in enum]


def load_torchvision_weights(body: nn.Module, name: str, depth: int) -> None:
    """Load torchvision's ImageNet weights ``name`` into ``body`` (its classifier is dropped)."""
    state = fetch_state_dict(name, supported_weights(depth))
    result = body.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise BuildError(
            f"ResNet.weights: {name} lacks {len(result.missing_keys)} of the backbone's keys, "
            f"e.g. {result.missing_keys[0]}"
        )
