"""Convert torchvision ``fasterrcnn_resnet50_fpn`` weights to this plugin's FasterRCNN.

The result loads into the model of ``faster_rcnn::faster_rcnn_r50_fpn_tv.yaml``.
Both keep the background logit at index 0 of the box classifier. torchvision's COCO model
has 91 outputs indexed by COCO category id (0: background, ten ids unused by COCO).
``classes="coco80"`` (the default) keeps background + the 80 real categories in id order,
so labels match detplug-coco's contiguous labels (``num_classes: 80``); ``classes="all"``
keeps all (``num_classes: 90``, detplug label = category id - 1).

:data:`CONVERTER` is the ``detplug convert torchvision-faster-rcnn`` command and the
published weights (``load_from: FasterRCNN_ResNet50_FPN_Weights.COCO_V1``; the V2 variant is
another architecture and is not offered), by detplug_torchvision.conversion.
"""

from __future__ import annotations

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
    (r"^rpn\.head\.conv\.weight$", "rpn.head.conv.0.0.weight"),  # before torchvision 0.12
    (r"^rpn\.head\.conv\.bias$", "rpn.head.conv.0.0.bias"),
    (r"^rpn\.head\.", "rpn.head."),
    (r"^roi_heads\.box_head\.", "roi_head.box_head."),
    (r"^roi_heads\.box_predictor\.", "roi_head."),
]


def rename(key: str) -> str:
    """The detplug name of one torchvision key; KeyError if it has none."""
    return rename_key(key, _RULES, "Faster R-CNN")


def convert_state_dict(state: Mapping[str, Tensor], classes: str = "coco80") -> dict[str, Tensor]:
    """torchvision Faster R-CNN state dict -> detplug FasterRCNN state dict."""
    check_classes(classes)
    out = {rename(k): v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if classes == "coco80":
        rows = [0, *COCO80_IDS]  # background stays first
        num_classes = out["roi_head.cls_score.weight"].shape[0]
        if num_classes != 91:
            raise KeyError(
                f"the box classifier has {num_classes} outputs, not COCO's 91; use 'all'"
            )
        for name in ("roi_head.cls_score.weight", "roi_head.cls_score.bias"):
            out[name] = out[name][rows]
        for name in ("roi_head.bbox_pred.weight", "roi_head.bbox_pred.bias"):
            t = out[name]
            out[name] = t.view(num_classes, 4, *t.shape[1:])[rows].reshape(-1, *t.shape[1:])
    return out


CONVERTER = TorchvisionConverter(
    command="torchvision-faster-rcnn",
    model="fasterrcnn_resnet50_fpn",
    config="faster_rcnn::faster_rcnn_r50_fpn_tv.yaml",
    all_classes="torchvision's 90 foreground slots (num_classes 90)",
    convert_state_dict=convert_state_dict,
    weights=("FasterRCNN_ResNet50_FPN_Weights.COCO_V1",),
)
