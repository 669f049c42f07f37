"""detplug-retinanet: the RetinaNet detector, composed from the registry;
``detplug convert torchvision-retinanet`` converts torchvision checkpoints."""

from typing import Any

import detplug_core
from detplug_retinanet import (  # noqa: F401  (registers the components)
    assigner,
    detector,
    head,
    losses,
    postprocess,
)
from detplug_retinanet.convert import CONVERTER
from detplug_retinanet.registries import MODELS

__version__ = "0.1.0"
__all__ = ["MODELS", "detplug_cli_commands"]


@detplug_core.hookimpl
def detplug_cli_commands() -> list[Any]:
    """``detplug convert torchvision-retinanet``: the command of ``convert.CONVERTER``."""
    return [CONVERTER.cli_group()]


@detplug_core.hookimpl
def detplug_pretrained_weights() -> dict[str, Any]:
    """torchvision's published weights this plugin converts, by name."""
    return CONVERTER.published_weights()
