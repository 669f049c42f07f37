"""Convert torchvision ``fasterrcnn_resnet50_fpn`` weights to this plugin's FasterRCNN.

The result loads into the model of ``faster_rcnn::faster_rcnn_r50_fpn_tv.yaml``.
Both keep the background logit at index 0 of the box classifier. torchvision's COCO model
has 91 outputs indexed by COCO category id (0: background, ten ids unused by COCO).
``classes="coco80"`` (the default) keeps background + the 80 real categories in id order,
so labels match detplug-coco's contiguous labels (``num_classes: 80``); ``classes="all"``
keeps all (``num_classes: 90``, detplug label = category id - 1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from detplug_torchvision.convert_common import COCO80_IDS  # noqa: F401  (re-exported)
from torch import Tensor

# (torchvision key pattern, detplug replacement), first match wins.
_RULES = [
    (r"^backbone\.body\.", "backbone.body."),
    (r"^backbone\.fpn\.", "neck.fpn."),
    (r"^rpn\.head\.conv\.weight$", "rpn.head.conv.0.0.weight"),  # before torchvision 0.12
    (r"^rpn\.head\.conv\.bias$", "rpn.head.conv.0.0.bias"),
    (r"^rpn\.head\.", "rpn.head."),
    (r"^roi_heads\.box_head\.", "roi_head.box_head."),
    (r"^roi_heads\.box_predictor\.", "roi_head."),
]


def rename(key: str) -> str:
    """The detplug name of one torchvision key; KeyError if it has none."""
    for pattern, repl in _RULES:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"unexpected key in a torchvision Faster R-CNN state dict: {key}")


def convert_state_dict(state: Mapping[str, Tensor], classes: str = "coco80") -> dict[str, Tensor]:
    """torchvision Faster R-CNN state dict -> detplug FasterRCNN state dict."""
    if classes not in ("coco80", "all"):
        raise ValueError(f"classes must be 'coco80' or 'all', got {classes!r}")
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


def convert_file(src: str, dst: str, classes: str = "coco80") -> int:
    """Read a torchvision checkpoint, write ``{"model": state_dict, "meta": {...}}``
    (detplug_torchvision.convert_common); returns the number of tensors."""
    from detplug_torchvision.convert_common import coco80_names, read_source, write_converted

    from detplug_core.errors import CheckpointError

    state = read_source(src)
    try:
        converted = convert_state_dict(state, classes=classes)
    except KeyError as err:
        raise CheckpointError(f"{src}: {err.args[0]}") from None
    meta: dict = {"converted_from": "torchvision fasterrcnn_resnet50_fpn", "source": str(src)}
    if classes == "coco80":
        meta["classes"] = coco80_names()
    return write_converted(dst, converted, meta)
