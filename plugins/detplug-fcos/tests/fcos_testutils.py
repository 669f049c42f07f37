"""Helpers shared by the FCOS tests: torchvision reference models, random weights, data."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.config import load_config


def config_path(name: str) -> str:
    """The packaged FCOS config ``name`` (``fcos::name``)."""
    return f"fcos::{name}"


def build_from_config(name: str, **head: object) -> nn.Module:
    """Build the ``model`` of a config file, with ``head`` keys overridden."""
    cfg = load_config(config_path(name))["model"]
    cfg["head"].update(head)
    return MODELS.build(cfg)


def to_frozen_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d with a FrozenBatchNorm2d holding the same statistics."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            to_frozen_bn(child)
    return module


@torch.no_grad()
def randomise(model: nn.Module, seed: int = 0) -> None:
    """Random weights of a sensible scale, random norm statistics and affine parameters, and
    class-logit biases that let many (point, class) pairs pass the score threshold."""
    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        randn = torch.randn(t.shape, generator=g)
        if t.dim() == 4:  # conv weights, ~unit gain
            fan_in = t.shape[1] * t.shape[2] * t.shape[3]
            t.copy_(randn * (1.0 / fan_in) ** 0.5)
        elif name.endswith("running_var") or (name.endswith("weight") and t.dim() == 1):
            t.copy_(0.5 + torch.rand(t.shape, generator=g))
        elif name.endswith("cls_logits.bias"):
            t.copy_(-1.5 + 0.5 * randn)
        else:  # biases, running means
            t.copy_(0.1 * randn)


def make_images(seed: int = 0) -> list[Tensor]:
    """Two images of different shapes, shorter side 160 (torchvision's resize is identity
    with min_size=160) that pad to one 224 x 224 batch."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(3, 160, 224, generator=g), torch.rand(3, 224, 160, generator=g)]


def make_targets(labels: list[list[int]]) -> list[dict[str, Tensor]]:
    """Boxes of several sizes (several FPN levels), with the given labels per image."""
    boxes = [
        [
            [10.0, 12.0, 60.0, 70.0],
            [40.0, 30.0, 200.0, 150.0],
            [100.0, 5.0, 130.0, 40.0],
            [5.0, 90.0, 120.0, 159.0],
        ],
        [[20.0, 20.0, 140.0, 200.0], [60.0, 10.0, 90.0, 35.0], [0.0, 100.0, 50.0, 220.0]],
    ]
    return [
        {"boxes": torch.tensor(b[: len(lab)]).reshape(-1, 4), "labels": torch.tensor(lab).long()}
        for b, lab in zip(boxes, labels, strict=True)
    ]
