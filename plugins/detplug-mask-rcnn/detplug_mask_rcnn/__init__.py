"""detplug-mask-rcnn: Mask R-CNN with FPN, detplug-faster-rcnn's two stages plus a mask
branch, composed from the registry; ``detplug convert torchvision-mask-rcnn`` converts
torchvision checkpoints."""

from detplug_mask_rcnn import (  # noqa: F401  (registers the components)
    detector,
    losses,
    mask_head,
    postprocess,
    roi_head,
)
from detplug_mask_rcnn.convert import CONVERTER
from detplug_mask_rcnn.registries import MODELS

__version__ = "0.1.0"
__all__ = ["MODELS", "detplug_cli_commands", "detplug_pretrained_weights"]


# ``detplug convert torchvision-mask-rcnn`` and torchvision's published weights by name
detplug_cli_commands, detplug_pretrained_weights = CONVERTER.hookimpls()
