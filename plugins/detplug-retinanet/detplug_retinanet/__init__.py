"""detplug-retinanet: the RetinaNet detector, composed from the registry;
``detplug convert torchvision-retinanet`` converts torchvision checkpoints."""

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
__all__ = ["MODELS", "detplug_cli_commands", "detplug_pretrained_weights"]


# ``detplug convert torchvision-retinanet`` and torchvision's published weights by name
detplug_cli_commands, detplug_pretrained_weights = CONVERTER.hookimpls()
