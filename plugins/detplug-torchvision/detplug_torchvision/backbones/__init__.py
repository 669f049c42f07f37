"""Backbones (MODELS, scope ``torchvision``): ResNet and MobileNetV3 over torchvision."""

from detplug_torchvision.backbones._common import init_from_checkpoint, norm_layer
from detplug_torchvision.backbones.mobilenet import MobileNetV3
from detplug_torchvision.backbones.resnet import ResNet

__all__ = ["MobileNetV3", "ResNet", "init_from_checkpoint", "norm_layer"]
