"""Convert torchvision ``retinanet_resnet50_fpn`` weights to this plugin's RetinaNet.

The result loads into the model of ``retinanet::retinanet_r50_fpn_tv.yaml``.
torchvision's COCO models have 91 class outputs indexed by COCO category id: index 0 and
ten ids unused by COCO are never trained as positives. ``classes="coco80"`` (the default)
keeps the 80 real categories in id order, so labels match detplug-coco's contiguous labels
(``num_classes: 80``); ``classes="all"`` keeps all 91 outputs (label = category id).

:data:`CONVERTER` is the ``detplug convert torchvision-retinanet`` command and the published
weights (``load_from: RetinaNet_ResNet50_FPN_Weights.COCO_V1``; the V2 variant is another
architecture and is not offered), by detplug_torchvision.conversion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from detplug_torchvision.conversion import (
    BACKBONE_FPN_RULES,
    COCO80_IDS,
    TorchvisionConverter,
    check_classes,
    rename_key,
)
from torch import Tensor

# (torchvision key pattern, detplug replacement), first match wins.
_RULES = [
    *BACKBONE_FPN_RULES,
    (r"^head\.classification_head\.conv\.(\d+)\.(\d+)\.", r"head.cls_convs.\1.\2."),
    (r"^head\.classification_head\.cls_logits\.", "head.cls_logits."),
    (r"^head\.regression_head\.conv\.(\d+)\.(\d+)\.", r"head.reg_convs.\1.\2."),
    (r"^head\.regression_head\.bbox_reg\.", "head.bbox_reg."),
]
# Checkpoints saved before torchvision 0.12 name the head convs conv.0, conv.2, conv.4 ...
_V1_HEAD_CONV = re.compile(r"^(head\.\w+_head\.conv)\.(\d+)\.(weight|bias)$")


def _upgrade_v1(key: str) -> str:
    match = _V1_HEAD_CONV.match(key)
    if match:
        return f"{match.group(1)}.{int(match.group(2)) // 2}.0.{match.group(3)}"
    return key


def rename(key: str) -> str:
    """The detplug name of one torchvision key; KeyError if it has none."""
    return rename_key(_upgrade_v1(key), _RULES, "RetinaNet")


def select_classes(t: Tensor, num_classes: int, keep: list[int]) -> Tensor:
    """cls_logits weight [A * K, ...] or bias [A * K] -> [A * len(keep), ...]."""
    per_anchor = t.view(-1, num_classes, *t.shape[1:])  # [A, K, ...]
    return per_anchor[:, keep].reshape(-1, *t.shape[1:])


def convert_state_dict(
    state: Mapping[str, Tensor], num_anchors: int = 9, classes: str = "coco80"
) -> dict[str, Tensor]:
    """torchvision RetinaNet state dict -> detplug RetinaNet state dict."""
    check_classes(classes)
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue  # FrozenBatchNorm2d has no such buffer
        out[rename(key)] = value
    if classes == "coco80":
        for name in ("head.cls_logits.weight", "head.cls_logits.bias"):
            num_classes = out[name].shape[0] // num_anchors
            if num_classes != 91:
                raise KeyError(f"{name} has {num_classes} classes, not COCO's 91; use 'all'")
            out[name] = select_classes(out[name], num_classes, COCO80_IDS)
    return out


CONVERTER = TorchvisionConverter(
    command="torchvision-retinanet",
    model="retinanet_resnet50_fpn",
    config="retinanet::retinanet_r50_fpn_tv.yaml",
    all_classes="torchvision's 91 class slots (num_classes 91)",
    convert_state_dict=convert_state_dict,
    weights=("RetinaNet_ResNet50_FPN_Weights.COCO_V1",),
)
