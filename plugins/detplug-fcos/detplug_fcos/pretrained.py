"""torchvision's published FCOS weights by name (``load_from: FCOS_ResNet50_FPN_Weights.COCO_V1``),
converted to detplug's FCOS with the 80 real COCO classes (as ``--coco80`` does)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

# torchvision weights whose architecture fcos::fcos_r50_fpn_tv.yaml describes.
SUPPORTED = ("FCOS_ResNet50_FPN_Weights.COCO_V1",)


def load(name: str) -> dict[str, Any]:
    """A detplug checkpoint dict (``model``, ``meta.classes``) from torchvision's weights."""
    from detplug_torchvision.pretrained import fetch_state_dict

    from detplug_fcos.convert import coco80_indices, coco80_names, convert_torchvision_fcos

    state = fetch_state_dict(name, SUPPORTED)
    model = convert_torchvision_fcos(state, keep_classes=coco80_indices())
    return {"model": model, "meta": {"classes": coco80_names(), "converted_from": name}}


def published_weights() -> dict[str, Callable[[], dict[str, Any]]]:
    return {name: partial(load, name) for name in SUPPORTED}
