"""Same weights, same images: our FCOS equals torchvision's (eval outputs and losses).

torchvision's FCOS resizes inside the model (GeneralizedRCNNTransform); detplug leaves
resizing to the data pipeline. The images here have shorter side 160 and torchvision runs
with min_size=160, so its resize is the identity (scale factor exactly 1) and both models
see the same normalised, zero-padded 224 x 224 batch.
"""

from __future__ import annotations

import pytest
import torch
from detplug_fcos.convert import coco80_indices, convert_torchvision_fcos
from detplug_torchvision.testing import assert_detections_match
from fcos_testutils import (
    build_from_config,
    make_images,
    make_targets,
    randomise,
    to_frozen_bn,
)
from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import fcos_resnet50_fpn
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.fcos import FCOS as TvFCOS
from torchvision.models.detection.fcos import FCOSHead as TvFCOSHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

TOL = {"rtol": 1e-4, "atol": 1e-4}
TV_LOSS_NAMES = {
    "loss_cls": "classification",
    "loss_bbox": "bbox_regression",
    "loss_centerness": "bbox_ctrness",
}


def _compare_eval(ours: nn.Module, tv: nn.Module, label_map: list[int] | None = None) -> None:
    images = make_images()
    ours.eval(), tv.eval()
    with torch.no_grad():
        got, want = ours(images), tv(images)
    for g, w in zip(got, want, strict=True):
        assert len(w["scores"]) > 20  # the comparison is not vacuous
        if label_map is not None:
            g = {**g, "labels": torch.tensor(label_map)[g["labels"]]}
        assert_detections_match(g, w, TOL)


def _compare_losses(ours: nn.Module, tv: nn.Module, labels, tv_labels, ignore=None) -> None:
    images = make_images()
    targets, tv_targets = make_targets(labels), make_targets(tv_labels)
    if ignore is not None:  # torchvision has no ignore flag: it gets those boxes removed
        for t, tv_t, flags in zip(targets, tv_targets, ignore, strict=True):
            t["ignore"] = torch.tensor(flags, dtype=torch.bool)
            keep = ~t["ignore"]
            tv_t["boxes"], tv_t["labels"] = tv_t["boxes"][keep], tv_t["labels"][keep]
    ours.train(), tv.train()
    with torch.no_grad():
        got, want = ours(images, targets), tv(images, tv_targets)
    assert set(got) == set(TV_LOSS_NAMES)
    for name, tv_name in TV_LOSS_NAMES.items():
        assert got[name].item() > 0 or tv_name == "bbox_regression"
        torch.testing.assert_close(got[name], want[tv_name], **TOL)


@pytest.fixture(scope="module")
def r50_pair() -> tuple[nn.Module, nn.Module]:
    """torchvision's fcos_resnet50_fpn with 91 COCO slots, as its COCO weights are built
    (FrozenBatchNorm2d), random weights; ours from the config, converted with --coco80."""
    torch.manual_seed(0)
    tv = fcos_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91, min_size=160, max_size=1333
    )
    to_frozen_bn(tv.backbone.body)
    randomise(tv)
    unused = [i for i in range(91) if i not in coco80_indices()]
    with torch.no_grad():  # slots with no COCO category never fire, as in trained weights
        tv.head.classification_head.cls_logits.bias[unused] = -30.0
    ours = build_from_config("models/fcos_r50_fpn.yaml")
    ours.load_state_dict(convert_torchvision_fcos(tv.state_dict(), coco80_indices()))
    return ours, tv


def test_r50_eval_outputs_match(r50_pair) -> None:
    _compare_eval(*r50_pair, label_map=coco80_indices())


def test_r50_losses_match(r50_pair) -> None:
    coco = coco80_indices()
    labels = [[0, 17, 79, 3], [56, 0, 1]]
    _compare_losses(*r50_pair, labels, [[coco[i] for i in img] for img in labels])


def _tv_small_fcos(num_classes: int) -> nn.Module:
    """torchvision FCOS matching fcos_r18_fpn_small.yaml: ResNet-18 with BatchNorm (all
    trainable), 128-channel FPN with LastLevelP6P7 from P5, 2-conv heads."""
    body = resnet18(weights=None, norm_layer=nn.BatchNorm2d)
    backbone = _resnet_fpn_extractor(
        body, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(128, 128)
    )
    backbone.fpn.__init__([128, 256, 512], 128, extra_blocks=LastLevelP6P7(128, 128))
    backbone.out_channels = 128
    head = TvFCOSHead(128, 1, num_classes, num_convs=2)
    return TvFCOS(backbone, num_classes, min_size=160, max_size=1333, head=head, score_thresh=0.05)


@pytest.fixture(scope="module")
def r18_pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(1)
    tv = _tv_small_fcos(num_classes=6)
    randomise(tv, seed=1)
    ours = build_from_config("models/fcos_r18_fpn_small.yaml", num_classes=6)
    ours.load_state_dict(convert_torchvision_fcos(tv.state_dict()))
    return ours, tv


def test_r18_eval_outputs_match(r18_pair) -> None:
    _compare_eval(*r18_pair)


def test_r18_losses_match_with_ignored_and_empty_targets(r18_pair) -> None:
    # BatchNorm in train mode: both normalise with the same batch statistics.
    _compare_losses(
        *r18_pair,
        [[0, 5, 2, 1], [3, 4, 0]],
        [[0, 5, 2, 1], [3, 4, 0]],
        ignore=[[False, True, False, False], [False, False, True]],
    )
    _compare_losses(*r18_pair, [[1, 2], []], [[1, 2], []])


def test_label_convention_drop_background(r18_pair) -> None:
    """torchvision reserves slot 0: C_tv = C + 1 and label_tv = label + 1."""
    _, tv = r18_pair
    with torch.no_grad():
        tv.head.classification_head.cls_logits.bias[0] = -30.0
    ours = build_from_config("models/fcos_r18_fpn_small.yaml", num_classes=5)
    ours.load_state_dict(convert_torchvision_fcos(tv.state_dict(), range(1, 6)))
    _compare_eval(ours, tv, label_map=[1, 2, 3, 4, 5])
    _compare_losses(ours, tv, [[0, 4, 2, 1], [3, 4, 0]], [[1, 5, 3, 2], [4, 5, 1]])
