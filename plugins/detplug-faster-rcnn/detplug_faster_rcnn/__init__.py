"""detplug-faster-rcnn: Faster R-CNN with FPN (RPN + RoIAlign box head), composed from the
registry; ``detplug convert torchvision-faster-rcnn`` converts torchvision checkpoints."""

from detplug_faster_rcnn import (  # noqa: F401  (registers the components)
    box_head,
    detector,
    losses,
    proposals,
    roi_head,
    roi_postprocess,
    rpn,
    rpn_head,
    sampler,
)
from detplug_faster_rcnn.convert import CONVERTER
from detplug_faster_rcnn.registries import MODELS

__version__ = "0.1.0"
__all__ = ["MODELS", "detplug_cli_commands", "detplug_pretrained_weights"]


# ``detplug convert torchvision-faster-rcnn`` and torchvision's published weights by name
detplug_cli_commands, detplug_pretrained_weights = CONVERTER.hookimpls()
