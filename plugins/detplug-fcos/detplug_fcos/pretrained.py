"""torchvision's published FCOS weights by name (``load_from: FCOS_ResNet50_FPN_Weights.COCO_V1``),
converted to detplug's FCOS with the 80 real COCO classes (as ``--coco80`` does)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from detplug_torchvision.conversion import coco80_published_weights

from detplug_fcos.convert import coco80_indices, convert_torchvision_fcos

# torchvision weights whose architecture fcos::fcos_r50_fpn_tv.yaml describes.
SUPPORTED = ("FCOS_ResNet50_FPN_Weights.COCO_V1",)


def published_weights() -> dict[str, Callable[[], dict[str, Any]]]:
    return coco80_published_weights(
        SUPPORTED, partial(convert_torchvision_fcos, keep_classes=coco80_indices())
    )
