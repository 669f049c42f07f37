"""``detplug convert torchvision-faster-rcnn IN OUT`` end to end on a small torchvision model.

A torchvision Faster R-CNN on a ResNet-18 FPN (32 channels, 64-wide box head) with random
weights is saved, converted through the CLI, loaded into the equivalent detplug config with
the runner's weight loader; features, RPN head and box head outputs are compared (the full
models are compared in test_faster_rcnn_equivalence.py).
"""

from __future__ import annotations

import torch
from detplug_torchvision.testing import (
    TOL,
    assert_convert_refuses_bad_input,
    assert_features_close,
    convert_with_cli,
    randomize_frozen_bn_statistics,
)
from detplug_torchvision.testing.conversion import load_converted
from torchvision.models import resnet18
from torchvision.models.detection import FasterRCNN as TVFasterRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops.misc import FrozenBatchNorm2d

OURS = {
    "type": "FasterRCNN",
    "backbone": {"type": "ResNet", "depth": 18, "out_indices": [1, 2, 3, 4]},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "pool"},
    "rpn": {"type": "RPN"},
    "roi_head": {
        "type": "RoIHead",
        "num_classes": 90,
        "box_head": {"type": "TwoMLPHead", "representation_size": 64},
    },
}


def small_torchvision_faster_rcnn() -> TVFasterRCNN:
    torch.manual_seed(0)
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    layers = {f"layer{i}": str(i - 1) for i in range(1, 5)}
    backbone = BackboneWithFPN(body, layers, [64, 128, 256, 512], 32)
    model = TVFasterRCNN(
        backbone,
        None,
        min_size=96,
        max_size=1000,
        box_head=TwoMLPHead(32 * 7 * 7, 64),
        box_predictor=FastRCNNPredictor(64, 91),
    )
    randomize_frozen_bn_statistics(model)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias.normal_(0, 2.0)
    return model.eval()


def test_convert_command_output_loads_and_matches_torchvision(tmp_path):
    tv = small_torchvision_faster_rcnn()
    dst, _ = convert_with_cli(
        "torchvision-faster-rcnn", tv.state_dict(), tmp_path, "--classes", "all"
    )
    ours = load_converted(OURS, dst)
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        feats = list(ours.neck(ours.backbone(x)).values())
        assert_features_close(feats, list(tv.backbone(x).values()))
        tv_obj, tv_deltas = tv.rpn.head(feats)
        objectness, deltas = ours.rpn.head(feats)
        pooled = torch.randn(5, 32, 7, 7)
        tv_scores, tv_boxes = tv.roi_heads.box_predictor(tv.roi_heads.box_head(pooled))
        embedding = ours.roi_head.box_head(pooled)
        scores, boxes = ours.roi_head.cls_score(embedding), ours.roi_head.bbox_pred(embedding)
    tol = TOL
    tv_obj = torch.cat([o.permute(0, 2, 3, 1).flatten(1) for o in tv_obj], 1)  # [N, HWA]
    tv_deltas = torch.cat(
        [
            d.view(2, 3, 4, *d.shape[-2:]).permute(0, 3, 4, 1, 2).reshape(2, -1, 4)
            for d in tv_deltas
        ],
        dim=1,
    )
    torch.testing.assert_close(objectness, tv_obj, **tol)
    torch.testing.assert_close(deltas, tv_deltas, **tol)
    torch.testing.assert_close(scores, tv_scores, **tol)
    torch.testing.assert_close(boxes, tv_boxes, **tol)


def test_default_conversion_keeps_background_and_the_80_coco_classes(tmp_path):
    tv = small_torchvision_faster_rcnn()
    _, saved = convert_with_cli("torchvision-faster-rcnn", tv.state_dict(), tmp_path)
    assert saved["model"]["roi_head.cls_score.bias"].shape == (81,)
    assert saved["model"]["roi_head.bbox_pred.weight"].shape == (81 * 4, 64)
    assert saved["meta"]["classes"][0] == "person" and len(saved["meta"]["classes"]) == 80


def test_bad_input_is_a_one_line_error(tmp_path):
    assert_convert_refuses_bad_input("torchvision-faster-rcnn", tmp_path)
