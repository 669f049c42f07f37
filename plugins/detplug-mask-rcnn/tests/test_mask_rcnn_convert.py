"""``detplug convert torchvision-mask-rcnn IN OUT`` end to end on a small torchvision Mask
R-CNN, the class selection of the mask predictor, the packaged configs, and torchvision's
published weights by name (the full models are compared in test_mask_rcnn_equivalence.py).
"""

from __future__ import annotations

import pytest
import torch
from detplug_mask_rcnn.convert import convert_state_dict, rename
from detplug_torchvision.conversion import COCO80_IDS
from detplug_torchvision.testing import (
    TOL,
    assert_convert_refuses_bad_input,
    assert_features_close,
    convert_with_cli,
    randomize_frozen_bn_statistics,
)
from detplug_torchvision.testing.conversion import load_converted, load_published_offline
from detplug_torchvision.testing.recipes import assert_recipe_loads, tv_recipe_model
from torchvision.models import resnet18
from torchvision.models.detection import MaskRCNN as TVMaskRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops.misc import FrozenBatchNorm2d

OURS = {
    "type": "MaskRCNN",
    "backbone": {"type": "ResNet", "depth": 18, "out_indices": [1, 2, 3, 4]},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "pool"},
    "rpn": {"type": "RPN"},
    "roi_head": {
        "type": "MaskRoIHead",
        "num_classes": 90,
        "box_head": {"type": "TwoMLPHead", "representation_size": 64},
        "mask_head": {"num_convs": 4, "conv_channels": 16},
        "mask_predictor": {"deconv_channels": 24},
    },
}


def small_torchvision_mask_rcnn() -> TVMaskRCNN:
    torch.manual_seed(0)
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    layers = {f"layer{i}": str(i - 1) for i in range(1, 5)}
    model = TVMaskRCNN(
        BackboneWithFPN(body, layers, [64, 128, 256, 512], 32),
        None,
        min_size=96,
        max_size=1000,
        box_head=TwoMLPHead(32 * 7 * 7, 64),
        box_predictor=FastRCNNPredictor(64, 91),
        mask_head=MaskRCNNHeads(32, [16, 16, 16, 16], 1),
        mask_predictor=MaskRCNNPredictor(16, 24, 91),
    )
    randomize_frozen_bn_statistics(model)
    with torch.no_grad():
        model.roi_heads.mask_predictor.mask_fcn_logits.bias.normal_(0, 2.0)
    return model.eval()


def test_convert_command_output_loads_and_matches_torchvision(tmp_path):
    tv = small_torchvision_mask_rcnn()
    dst, _ = convert_with_cli(
        "torchvision-mask-rcnn", tv.state_dict(), tmp_path, "--classes", "all"
    )
    ours = load_converted(OURS, dst)  # every tensor used, every parameter filled
    x = torch.rand(2, 3, 96, 128)
    pooled = torch.randn(5, 32, 14, 14)
    with torch.no_grad():
        assert_features_close(
            list(ours.neck(ours.backbone(x)).values()), list(tv.backbone(x).values())
        )
        expected = tv.roi_heads.mask_predictor(tv.roi_heads.mask_head(pooled))
        got = ours.roi_head.mask_predictor(ours.roi_head.mask_head(pooled))
    assert got.shape == (5, 91, 28, 28)
    torch.testing.assert_close(got, expected, **TOL)


def test_default_conversion_keeps_background_and_the_80_coco_classes(tmp_path):
    tv = small_torchvision_mask_rcnn()
    _, saved = convert_with_cli("torchvision-mask-rcnn", tv.state_dict(), tmp_path)
    logits = tv.roi_heads.mask_predictor.mask_fcn_logits
    rows = [0, *COCO80_IDS]
    assert torch.equal(saved["model"]["roi_head.mask_predictor.logits.weight"], logits.weight[rows])
    assert torch.equal(saved["model"]["roi_head.mask_predictor.logits.bias"], logits.bias[rows])
    assert saved["model"]["roi_head.cls_score.bias"].shape == (81,)
    assert saved["meta"]["classes"][0] == "person" and len(saved["meta"]["classes"]) == 80


def test_bad_input_is_a_one_line_error(tmp_path):
    assert_convert_refuses_bad_input("torchvision-mask-rcnn", tmp_path)


def test_a_faster_rcnn_checkpoint_is_refused_by_name():
    state = {
        k: v for k, v in small_torchvision_mask_rcnn().state_dict().items() if ".mask_" not in k
    }
    with pytest.raises(KeyError, match="no mask branch.*not a Mask R-CNN checkpoint"):
        convert_state_dict(state, classes="all")


def test_keys_of_torchvision_before_0_13_are_renamed():
    assert rename("roi_heads.mask_head.mask_fcn1.weight") == "roi_head.mask_head.convs.0.weight"
    assert rename("roi_heads.mask_head.mask_fcn4.bias") == "roi_head.mask_head.convs.3.bias"
    assert rename("roi_heads.mask_head.2.0.weight") == "roi_head.mask_head.convs.2.weight"


def test_tv_config_is_the_torchvision_architecture():
    assert_recipe_loads(
        "mask_rcnn::mask_rcnn_r50_fpn_tv.yaml", "mask_rcnn.MaskRCNN", "roi_head", 80
    )
    model = tv_recipe_model(
        "mask_rcnn::mask_rcnn_r50_fpn_tv.yaml",
        "mask_rcnn::models/mask_rcnn_r50_fpn.yaml",
        {"out_indices": [1, 2, 3, 4]},
        # masks left on their 28x28 box grids: the metric pastes them at the photo's own
        # size and the rescaled box, as torchvision's evaluation does
        output_only={
            "roi_head.mask_postprocess": {"type": "mask_rcnn.MaskPostprocess", "paste": False}
        },
    )
    head = model["roi_head"]
    assert head["mask_roi_size"] == 14 and head["sampling_ratio"] == 2
    assert head["mask_head"] == {
        "type": "mask_rcnn.MaskConvHead",
        "num_convs": 4,
        "conv_channels": 256,
    }
    assert head["mask_predictor"] == {"type": "mask_rcnn.MaskPredictor", "deconv_channels": 256}


@pytest.mark.slow
def test_detector_weights_by_name(tmp_path, monkeypatch) -> None:
    model, loaded, state = load_published_offline(
        "MaskRCNN_ResNet50_FPN_Weights.COCO_V1",
        "mask_rcnn::mask_rcnn_r50_fpn_tv.yaml",
        tmp_path,
        monkeypatch,
    )
    ours = model.state_dict()["roi_head.mask_predictor.logits.bias"]
    tv = state["roi_heads.mask_predictor.mask_fcn_logits.bias"]
    assert ours.shape == (81,) and ours[0] == tv[0] and ours[1] == tv[1]  # background, person
    assert torch.equal(ours[12], tv[13])  # stop sign: COCO id 13, id 12 is a gap
    assert loaded["meta"]["classes"][:2] == ["person", "bicycle"]
