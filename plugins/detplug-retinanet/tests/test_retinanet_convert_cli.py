"""``detplug convert torchvision-retinanet IN OUT`` end to end on a small torchvision model.

A torchvision RetinaNet on a ResNet-18 FPN (32 channels) with random weights is saved,
converted through the CLI, loaded into the equivalent detplug config with the runner's
weight loader; features and head outputs are compared (the full models are compared in
test_retinanet_equivalence.py).
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
from torchvision.models.detection import RetinaNet as TVRetinaNet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

OURS = {
    "type": "RetinaNet",
    "backbone": {"type": "ResNet", "depth": 18, "out_indices": [2, 3, 4]},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "p6p7"},
    "head": {"type": "RetinaNetHead", "num_classes": 91},
}


def small_torchvision_retinanet() -> TVRetinaNet:
    torch.manual_seed(0)
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = BackboneWithFPN(
        body,
        {"layer2": "0", "layer3": "1", "layer4": "2"},
        [128, 256, 512],
        32,
        extra_blocks=LastLevelP6P7(32, 32),
    )
    model = TVRetinaNet(backbone, 91, min_size=96, max_size=1000)
    randomize_frozen_bn_statistics(model)
    with torch.no_grad():
        model.head.classification_head.cls_logits.bias.normal_(-3.0, 1.0)
    return model.eval()


def test_convert_command_output_loads_and_matches_torchvision(tmp_path):
    tv = small_torchvision_retinanet()
    dst, _ = convert_with_cli(
        "torchvision-retinanet", tv.state_dict(), tmp_path, "--classes", "all"
    )
    ours = load_converted(OURS, dst)
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        feats = list(ours.neck(ours.backbone(x)).values())
        assert_features_close(feats, list(tv.backbone(x).values()))
        tv_out, (logits, deltas) = tv.head(feats), ours.head(feats)
    torch.testing.assert_close(logits, tv_out["cls_logits"], **TOL)
    torch.testing.assert_close(deltas, tv_out["bbox_regression"], **TOL)


def test_default_conversion_keeps_the_80_coco_classes(tmp_path):
    tv = small_torchvision_retinanet()
    _, saved = convert_with_cli("torchvision-retinanet", tv.state_dict(), tmp_path)
    assert saved["model"]["head.cls_logits.bias"].shape == (9 * 80,)
    assert saved["meta"]["classes"][:2] == ["person", "bicycle"]
    assert len(saved["meta"]["classes"]) == 80


def test_bad_input_is_a_one_line_error(tmp_path):
    assert_convert_refuses_bad_input("torchvision-retinanet", tmp_path)
