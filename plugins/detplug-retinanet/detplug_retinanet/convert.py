"""Convert torchvision ``retinanet_resnet50_fpn`` weights to this plugin's RetinaNet.

The result loads into the model of ``retinanet::retinanet_r50_fpn_tv.yaml``.
torchvision's COCO models have 91 class outputs indexed by COCO category id: index 0 and
ten ids unused by COCO are never trained as positives. ``classes="coco80"`` (the default)
keeps the 80 real categories in id order, so labels match detplug-coco's contiguous labels
(``num_classes: 80``); ``classes="all"`` keeps all 91 outputs (label = category id).
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
    key = _upgrade_v1(key)
    for pattern, repl in _RULES:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"unexpected key in a torchvision RetinaNet state dict: {key}")


def select_classes(t: Tensor, num_classes: int, keep: list[int]) -> Tensor:
    """cls_logits weight [A * K, ...] or bias [A * K] -> [A * len(keep), ...]."""
    per_anchor = t.view(-1, num_classes, *t.shape[1:])  # [A, K, ...]
    return per_anchor[:, keep].reshape(-1, *t.shape[1:])


def convert_state_dict(
    state: Mapping[str, Tensor], num_anchors: int = 9, classes: str = "coco80"
) -> dict[str, Tensor]:
    """torchvision RetinaNet state dict -> detplug RetinaNet state dict."""
    if classes not in ("coco80", "all"):
        raise ValueError(f"classes must be 'coco80' or 'all', got {classes!r}")
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
    meta: dict = {"converted_from": "torchvision retinanet_resnet50_fpn", "source": str(src)}
    if classes == "coco80":
        meta["classes"] = coco80_names()
    return write_converted(dst, converted, meta)
