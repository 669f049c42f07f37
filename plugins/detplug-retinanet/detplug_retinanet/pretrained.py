"""torchvision's published RetinaNet weights by name
(``load_from: RetinaNet_ResNet50_FPN_Weights.COCO_V1``), converted to detplug's RetinaNet with
the 80 real COCO classes (as ``classes="coco80"`` does). The V2 variant is another
architecture and is not offered."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

# torchvision weights whose architecture retinanet::retinanet_r50_fpn_tv.yaml describes.
SUPPORTED = ("RetinaNet_ResNet50_FPN_Weights.COCO_V1",)


def load(name: str) -> dict[str, Any]:
    """A detplug checkpoint dict (``model``, ``meta.classes``) from torchvision's weights."""
    from detplug_torchvision.pretrained import coco80_detector_weights

    from detplug_retinanet.convert import convert_state_dict

    return coco80_detector_weights(
        name, SUPPORTED, lambda state: convert_state_dict(state, classes="coco80")
    )


def published_weights() -> dict[str, Callable[[], dict[str, Any]]]:
    return {name: partial(load, name) for name in SUPPORTED}
