"""detplug-torchvision: backbones, necks, box-aware transforms and samplers over torchvision."""

from detplug_torchvision import (  # noqa: F401  (registers)
    anchors,
    backbones,
    necks,
    preprocessor,
    samplers,
    transforms,
)
from detplug_torchvision.inference.cli import detplug_cli_commands  # noqa: F401  (hookimpl)
from detplug_torchvision.inference.detector import Detections, Detector
from detplug_torchvision.registries import MODELS, SAMPLERS, TRANSFORMS

__version__ = "0.1.0"
__all__ = ["MODELS", "SAMPLERS", "TRANSFORMS", "Detections", "Detector"]
