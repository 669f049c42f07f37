"""detplug-torchvision: backbones, necks, box-aware transforms and samplers over torchvision."""

from detplug_torchvision import backbones, necks, samplers, transforms  # noqa: F401  (registers)
from detplug_torchvision.inference.cli import detplug_cli_commands  # noqa: F401  (hookimpl)
from detplug_torchvision.registries import MODELS, SAMPLERS, TRANSFORMS

__version__ = "0.1.0"
__all__ = ["MODELS", "SAMPLERS", "TRANSFORMS"]
