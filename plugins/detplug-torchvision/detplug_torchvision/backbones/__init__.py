"""Backbones (MODELS, scope ``torchvision``): ResNet and MobileNetV3 over torchvision, and
the public pieces every backbone is built from (:mod:`detplug_torchvision.backbones.base`)."""

from detplug_torchvision.backbones.base import (
    FreezableBackbone,
    freeze,
    init_from_checkpoint,
    norm_layer,
    set_norm_eval,
)
from detplug_torchvision.backbones.mobilenet import MobileNetV3
from detplug_torchvision.backbones.resnet import ResNet

__all__ = [
    "FreezableBackbone",
    "MobileNetV3",
    "ResNet",
    "freeze",
    "init_from_checkpoint",
    "norm_layer",
    "set_norm_eval",
]
