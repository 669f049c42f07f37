"""detplug-fcos: the FCOS detector (head, target assignment, losses, post-processing) and a
converter from torchvision FCOS checkpoints (``detplug convert torchvision-fcos``)."""

from __future__ import annotations

from typing import Any

from detplug_torchvision.preprocessor import DetPreprocessor

import detplug_core
from detplug_fcos.assigner import FCOSAssigner
from detplug_fcos.detector import FCOS
from detplug_fcos.head import FCOSHead
from detplug_fcos.losses import FCOSLoss
from detplug_fcos.postprocess import FCOSPostprocess
from detplug_fcos.registries import MODELS

__version__ = "0.1.0"
__all__ = [
    "FCOS",
    "MODELS",
    "DetPreprocessor",
    "FCOSAssigner",
    "FCOSHead",
    "FCOSLoss",
    "FCOSPostprocess",
]


@detplug_core.hookimpl
def detplug_cli_commands() -> list[Any]:
    """``detplug convert torchvision-fcos ...``."""
    from detplug_fcos.cli import convert_group

    return [convert_group]


@detplug_core.hookimpl
def detplug_pretrained_weights() -> dict[str, Any]:
    """torchvision's published weights this plugin converts, by name."""
    from detplug_fcos.pretrained import published_weights

    return published_weights()
