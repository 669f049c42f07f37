"""ResNet forward with each FrozenBatchNorm2d folded into the conv before it.

A frozen BN is an affine map per channel, so ``bn(conv(x, w))`` equals
``conv(x, w * scale) + shift`` with ``scale = gamma / sqrt(var + eps)`` and
``shift = beta - mean * scale``. Folding saves two passes over every activation (the
multiply and the add of ``FrozenBatchNorm2d``) in training and inference; the bias add runs
inside the convolution kernel. Module names and the state dict are unchanged: only the
forward differs. Without gradients the folded weights are cached until a parameter or
buffer changes (tracked by tensor version counters).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops.misc import FrozenBatchNorm2d


def _versions(conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> tuple[int, ...]:
    tensors = (conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var)
    return tuple(t._version for t in tensors) + (conv.weight.data_ptr(),)


class FoldedConvBN:
    """Applies conv + frozen BN of a torchvision ResNet as one convolution."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[tuple[int, ...], Tensor, Tensor]] = {}

    def folded(self, conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> tuple[Tensor, Tensor]:
        """The folded weight [O, I, k, k] and bias [O]."""
        # Not while exporting: the graph folds the weights itself (no data pointers there).
        cacheable = not torch.is_grad_enabled() and not torch.compiler.is_exporting()
        key = id(conv)
        if cacheable:
            hit = self._cache.get(key)
            versions = _versions(conv, bn)
            if hit is not None and hit[0] == versions:
                return hit[1], hit[2]
        scale = bn.weight * (bn.running_var + bn.eps).rsqrt()
        shift = bn.bias - bn.running_mean * scale
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        if cacheable:
            self._cache[key] = (versions, weight, shift)
        return weight, shift

    def __call__(self, x: Tensor, conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> Tensor:
        weight, bias = self.folded(conv, bn)
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def block(self, x: Tensor, block: nn.Module) -> Tensor:
        """A BasicBlock or Bottleneck: convs + folded BNs, ReLU, residual."""
        if isinstance(block, Bottleneck):
            out = self(x, block.conv1, block.bn1).relu_()
            out = self(out, block.conv2, block.bn2).relu_()
            out = self(out, block.conv3, block.bn3)
        elif isinstance(block, BasicBlock):
            out = self(x, block.conv1, block.bn1).relu_()
            out = self(out, block.conv2, block.bn2)
        else:
            raise TypeError(f"cannot fold {type(block).__name__}")
        identity = x if block.downsample is None else self(x, *block.downsample)
        return out.add_(identity).relu_()

    def forward(self, x: Tensor, body: nn.Module, return_layers: dict[str, str]) -> OrderedDict:
        """The forward of torchvision's IntermediateLayerGetter over a frozen-BN ResNet."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        x = body.maxpool(self(x, body.conv1, body.bn1).relu_())
        for name in ("layer1", "layer2", "layer3", "layer4"):
            if not hasattr(body, name):
                break
            for block in getattr(body, name):
                x = self.block(x, block)
            if name in return_layers:
                out[return_layers[name]] = x
        return out


def can_fold(body: nn.Module) -> bool:
    """True when every norm of the ResNet body is a FrozenBatchNorm2d."""
    norms = [m for m in body.modules() if isinstance(m, FrozenBatchNorm2d | nn.BatchNorm2d)]
    return bool(norms) and all(isinstance(m, FrozenBatchNorm2d) for m in norms)
