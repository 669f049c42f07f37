"""detplug-torchvision: backbones, necks, box-aware transforms and samplers over torchvision."""

from detplug_torchvision import (  # noqa: F401  (registers)
    anchors,
    backbones,
    multi_image_dataset,
    necks,
    pipeline_switch,
    preprocessor,
    samplers,
    transforms,
)
from detplug_torchvision.inference.cli import detplug_cli_commands  # noqa: F401  (hookimpl)
from detplug_torchvision.inference.detector import Detections, Detector
from detplug_torchvision.multi_image_dataset import MultiImageMixDataset
from detplug_torchvision.pipeline_switch import PipelineSwitchHook
from detplug_torchvision.registries import DATASETS, HOOKS, MODELS, SAMPLERS, TRANSFORMS

__version__ = "0.1.0"
__all__ = [
    "DATASETS",
    "HOOKS",
    "MODELS",
    "SAMPLERS",
    "TRANSFORMS",
    "Detections",
    "Detector",
    "MultiImageMixDataset",
    "PipelineSwitchHook",
]
