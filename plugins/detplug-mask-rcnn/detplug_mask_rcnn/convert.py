"""Convert torchvision ``maskrcnn_resnet50_fpn`` weights to this plugin's MaskRCNN.

The result loads into the model of ``mask_rcnn::mask_rcnn_r50_fpn_tv.yaml``. Everything but
the mask branch is Faster R-CNN's and converted by detplug-faster-rcnn's converter (which
also selects the classes); the mask branch's keys are renamed here and its per-class logit
maps cut to the same classes: ``classes="coco80"`` (default) keeps the background and the
80 COCO categories in id order (detplug-coco's labels, ``num_classes: 80``), ``"all"``
keeps torchvision's 90 foreground slots (``num_classes: 90``, label = category id - 1).

:data:`CONVERTER` is the ``detplug convert torchvision-mask-rcnn`` command and the published
weights (``load_from: MaskRCNN_ResNet50_FPN_Weights.COCO_V1``; the V2 variant is another
architecture and is not offered), by detplug_torchvision.conversion.
"""

from __future__ import annotations

from collections.abc import Mapping

from detplug_faster_rcnn.convert import convert_state_dict as convert_faster_rcnn
from detplug_torchvision.conversion import COCO80_IDS, TorchvisionConverter, rename_key
from torch import Tensor

_MASK_PREFIX = "roi_heads.mask_"
# (torchvision key pattern, detplug replacement), first match wins.
_RULES = [
    (r"^roi_heads\.mask_head\.(\d+)\.0\.", r"roi_head.mask_head.convs.\1."),
    # torchvision before 0.13 named the convolutions mask_fcn1..mask_fcn4
    (r"^roi_heads\.mask_head\.mask_fcn1\.", "roi_head.mask_head.convs.0."),
    (r"^roi_heads\.mask_head\.mask_fcn2\.", "roi_head.mask_head.convs.1."),
    (r"^roi_heads\.mask_head\.mask_fcn3\.", "roi_head.mask_head.convs.2."),
    (r"^roi_heads\.mask_head\.mask_fcn4\.", "roi_head.mask_head.convs.3."),
    (r"^roi_heads\.mask_predictor\.conv5_mask\.", "roi_head.mask_predictor.deconv."),
    (r"^roi_heads\.mask_predictor\.mask_fcn_logits\.", "roi_head.mask_predictor.logits."),
]
_LOGITS = ("roi_head.mask_predictor.logits.weight", "roi_head.mask_predictor.logits.bias")


def rename(key: str) -> str:
    """The detplug name of one torchvision mask-branch key; KeyError if it has none."""
    return rename_key(key, _RULES, "Mask R-CNN")


def convert_state_dict(state: Mapping[str, Tensor], classes: str = "coco80") -> dict[str, Tensor]:
    """torchvision Mask R-CNN state dict -> detplug MaskRCNN state dict."""
    mask_keys = [k for k in state if k.startswith(_MASK_PREFIX)]
    # the rest first: a key of another model is reported by name as it is for Faster R-CNN
    out = convert_faster_rcnn({k: v for k, v in state.items() if k not in mask_keys}, classes)
    if not mask_keys:
        raise KeyError(
            "no mask branch (roi_heads.mask_head/mask_predictor) in the state dict: "
            "not a Mask R-CNN checkpoint (Faster R-CNN's converts with torchvision-faster-rcnn)"
        )
    out.update({rename(k): state[k] for k in mask_keys})
    missing = [name for name in _LOGITS if name not in out]
    if missing:
        raise KeyError(f"the mask predictor has no {', '.join(missing)}")
    if classes == "coco80":
        rows = [0, *COCO80_IDS]  # background stays first
        num_maps = out[_LOGITS[0]].shape[0]
        if num_maps != 91:
            raise KeyError(f"the mask predictor has {num_maps} outputs, not COCO's 91; use 'all'")
        for name in _LOGITS:
            out[name] = out[name][rows]
    return out


CONVERTER = TorchvisionConverter(
    command="torchvision-mask-rcnn",
    model="maskrcnn_resnet50_fpn",
    config="mask_rcnn::mask_rcnn_r50_fpn_tv.yaml",
    all_classes="torchvision's 90 foreground slots (num_classes 90)",
    convert_state_dict=convert_state_dict,
    weights=("MaskRCNN_ResNet50_FPN_Weights.COCO_V1",),
)
