"""``detplug convert torchvision-retinanet IN OUT`` end to end on a small torchvision model.

A torchvision RetinaNet on a ResNet-18 FPN (32 channels) with random weights is saved,
converted through the CLI, loaded into the equivalent detplug config with the runner's
weight loader; features and head outputs are compared (the full models are compared in
test_retinanet_equivalence.py).
"""

from __future__ import annotations

import torch
from click.testing import CliRunner
from torchvision.models import resnet18
from torchvision.models.detection import RetinaNet as TVRetinaNet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.cli.main import cli
from detplug_core.runner.weights import load_weights

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
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, FrozenBatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.running_mean.normal_(0, 0.2)
        model.head.classification_head.cls_logits.bias.normal_(-3.0, 1.0)
    return model.eval()


def test_convert_command_output_loads_and_matches_torchvision(tmp_path):
    tv = small_torchvision_retinanet()
    src, dst = tmp_path / "tv.pth", tmp_path / "detplug.pth"
    torch.save(tv.state_dict(), src)
    res = CliRunner().invoke(
        cli, ["convert", "torchvision-retinanet", str(src), str(dst), "--classes", "all"]
    )
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output

    ours = MODELS.build(OURS).eval()
    report = load_weights(ours, dst)
    assert report.clean, report.lines()
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        expected = list(tv.backbone(x).values())
        feats = list(ours.neck(ours.backbone(x)).values())
        for g, e in zip(feats, expected, strict=True):  # ResNet folds BN: rounding differs
            torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())
        tv_out, (logits, deltas) = tv.head(feats), ours.head(feats)
    torch.testing.assert_close(logits, tv_out["cls_logits"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(deltas, tv_out["bbox_regression"], rtol=1e-4, atol=1e-4)


def test_default_conversion_keeps_the_80_coco_classes(tmp_path):
    tv = small_torchvision_retinanet()
    src, dst = tmp_path / "tv.pth", tmp_path / "detplug.pth"
    torch.save(tv.state_dict(), src)
    res = CliRunner().invoke(cli, ["convert", "torchvision-retinanet", str(src), str(dst)])
    assert res.exit_code == 0, res.output
    saved = torch.load(dst, weights_only=True)
    assert saved["model"]["head.cls_logits.bias"].shape == (9 * 80,)
    assert saved["meta"]["classes"][:2] == ["person", "bicycle"]
    assert len(saved["meta"]["classes"]) == 80


def test_bad_input_is_a_one_line_error(tmp_path):
    src = tmp_path / "other.pth"
    torch.save({"classifier.weight": torch.zeros(2, 2)}, src)
    res = CliRunner().invoke(
        cli, ["convert", "torchvision-retinanet", str(src), str(tmp_path / "o.pth")]
    )
    assert res.exit_code == 2
    assert "unexpected key" in res.output and "classifier.weight" in res.output
    res = CliRunner().invoke(
        cli, ["convert", "torchvision-retinanet", str(tmp_path / "nope.pth"), "x.pth"]
    )
    assert res.exit_code == 2 and "not found" in res.output
