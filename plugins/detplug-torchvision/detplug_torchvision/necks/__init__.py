"""Necks (MODELS, scope ``torchvision``): FPN over torchvision.ops.FeaturePyramidNetwork."""

from detplug_torchvision.necks.fpn import FPN, P6P7

__all__ = ["FPN", "P6P7"]
