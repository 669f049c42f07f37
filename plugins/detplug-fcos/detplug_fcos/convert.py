"""Convert torchvision FCOS state dicts to detplug's FCOS (backbone / neck / head)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from detplug_torchvision.conversion import COCO80_IDS, coco80_names  # noqa: F401
from torch import Tensor

from detplug_core.errors import CheckpointError

# torchvision prefix -> detplug prefix; parameter names below the prefix are the same.
PREFIXES = {"backbone.body.": "backbone.body.", "backbone.fpn.": "neck.fpn.", "head.": "head."}
CLS_KEYS = (
    "head.classification_head.cls_logits.weight",
    "head.classification_head.cls_logits.bias",
)


def coco80_indices() -> list[int]:
    """torchvision's label index (= COCO category id) of the 80 real COCO classes, in order."""
    return list(COCO80_IDS)


def convert_torchvision_fcos(
    state: Mapping[str, Tensor], keep_classes: Sequence[int] | None = None
) -> dict[str, Tensor]:
    """Rename torchvision ``FCOS`` keys to detplug ``FCOS`` keys.

    ``keep_classes``: torchvision label indices to keep, in the order of detplug's labels
    0..C-1 (``range(1, C_tv)`` drops the background slot; :func:`coco80_indices` maps the
    91-slot COCO head to 80 contiguous classes). ``None`` keeps every slot as is.
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None:
            raise CheckpointError(
                f"unexpected key {key!r}: not a torchvision FCOS state dict (expected keys "
                f"under {', '.join(PREFIXES)})"
            )
        out[PREFIXES[prefix] + key[len(prefix) :]] = value
    for key in CLS_KEYS:
        if key not in out:
            raise CheckpointError(f"not a torchvision FCOS state dict: {key!r} is missing")
    if keep_classes is not None:
        num_tv = out[CLS_KEYS[1]].shape[0]
        bad = [i for i in keep_classes if not 0 <= i < num_tv]
        if bad or not keep_classes:
            raise CheckpointError(
                f"classes to keep must be in 0..{num_tv - 1} and not empty, got {list(keep_classes)}"
            )
        for key in CLS_KEYS:
            out[key] = out[key][list(keep_classes)].clone()
    return out


def num_classes_of(state: Mapping[str, Tensor]) -> int:
    """C of a detplug FCOS state dict."""
    return int(state[CLS_KEYS[1]].shape[0])
