"""RetinaNet equals torchvision's retinanet_resnet50_fpn on converted random weights.

torchvision's model is built as retinanet_resnet50_fpn builds it for pretrained weights
(ResNet-50 with FrozenBatchNorm2d, trainable layers 3, FPN P3-P7 with P6/P7 from P5), its
weights and BatchNorm statistics randomised, converted with the plugin's converter and
loaded into the model of retinanet::models/retinanet_r50_fpn.yaml. Images have their
shorter side equal to ``min_size`` so torchvision's internal resize is the identity (and
``_skip_resize`` in train mode). Nothing is sampled, so no seed is involved.

detplug-torchvision's ResNet folds each FrozenBatchNorm into its convolution, which rounds
differently (features agree to ~1e-5 relative, checked below). So that near-equal scores
cannot swap places, the comparisons of outputs and losses then run torchvision's model on
detplug's backbone + FPN features: everything RetinaNet-specific (head, anchors, matching,
losses, post-processing) must agree to 1e-4 on identical features.
"""

from __future__ import annotations

import pytest
import torch
from detplug_retinanet.convert import COCO80_IDS, convert_state_dict
from detplug_torchvision.testing import (
    TOL,
    EquivalentPair,
    assert_backbone_features_match,
    assert_detections_match,
    on_shared_features,
    random_images,
    random_targets,
    randomize_detector,
)
from torchvision.models import resnet50
from torchvision.models.detection import RetinaNet as TVRetinaNet
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.config import load_config

BASE = "retinanet::models/retinanet_r50_fpn.yaml"
SIZES = [(128, 160), (128, 128)]  # shorter sides equal min_size: no resize in torchvision


def tv_retinanet(**kwargs) -> TVRetinaNet:
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(
        body, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)
    )
    model = TVRetinaNet(backbone, 91, min_size=128, max_size=1000, _skip_resize=True, **kwargs)
    randomize_detector(model, heads=("head",), finals=("cls_logits", "bbox_reg"), keep_bias=True)
    return model


def ours_from(tv: TVRetinaNet, classes: str = "all", **head) -> torch.nn.Module:
    cfg = load_config(BASE)["model"]
    cfg["head"].update(num_classes=91 if classes == "all" else 80, **head)
    model = MODELS.build(cfg)
    model.load_state_dict(convert_state_dict(tv.state_dict(), classes=classes))
    return model


@pytest.fixture(scope="module")
def models() -> EquivalentPair:
    torch.manual_seed(0)
    tv = tv_retinanet()
    ours = ours_from(tv)
    return on_shared_features(tv, ours)


def test_backbone_and_fpn_features_match(models, images):
    assert_backbone_features_match(models, images, levels=5)


@pytest.fixture(scope="module")
def images() -> list[torch.Tensor]:
    return random_images(SIZES)


@pytest.fixture(scope="module")
def dense_outputs(models, images):
    """Both models' head outputs and anchors in train mode, for the loss variants."""
    tv, ours = models[:2]
    tv.train(), ours.train()
    with torch.no_grad():
        batch, _ = tv.transform(images)
        feats = list(tv.backbone(batch.tensors).values())
        tv_out = (tv.head(feats), tv.anchor_generator(batch, feats))
        x, _ = ours.preprocessor(images)
        feats = list(ours.neck(ours.backbone(x)).values())
        ours_out = (*ours.head(feats), ours.anchors(tuple(x.shape[-2:]), feats))
    return tv_out, ours_out


def test_eval_outputs_match(models, images):
    tv, ours = models[:2]
    tv.eval(), ours.eval()
    with torch.no_grad():
        expected, got = tv(images), ours(images)
    for e, g in zip(expected, got, strict=True):
        assert len(e["boxes"]) > 50  # the comparison is not vacuous
        assert_detections_match(g, e)


def test_training_losses_match(models, images):
    tv, ours = models[:2]
    tv.train(), ours.train()
    targets = random_targets(SIZES, 2)
    with torch.no_grad():
        expected, got = tv(images, targets), ours(images, targets)
    torch.testing.assert_close(got["loss_cls"], expected["classification"], **TOL)
    torch.testing.assert_close(got["loss_bbox"], expected["bbox_regression"], **TOL)


@pytest.mark.parametrize(
    ("tv_type", "loss_bbox"),
    [("giou", {"type": "GIoULoss"}), ("smooth_l1", {"type": "SmoothL1Loss", "beta": 1.0})],
)
@pytest.mark.parametrize("empty_image", [False, True])
def test_loss_variants_match(models, dense_outputs, tv_type, loss_bbox, empty_image):
    tv, ours = models[:2]
    (tv_head, tv_anchors), (logits, deltas, anchors) = dense_outputs
    targets = random_targets(SIZES, 3)
    if empty_image:
        targets[1] = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    default = ours.loss.loss_bbox
    ours.loss.loss_bbox = MODELS.build(loss_bbox)
    tv.head.regression_head._loss_type = tv_type
    try:
        expected = tv.compute_loss(targets, tv_head, tv_anchors)
        matched = torch.stack([ours.assigner(anchors, t["boxes"]) for t in targets])
        got = ours.loss(logits, deltas, anchors, matched, targets)
    finally:
        tv.head.regression_head._loss_type = "l1"
        ours.loss.loss_bbox = default
    torch.testing.assert_close(got["loss_cls"], expected["classification"], **TOL)
    torch.testing.assert_close(got["loss_bbox"], expected["bbox_regression"], **TOL)


def test_coco80_conversion_keeps_the_80_category_logits(models):
    tv = models.tv
    head_cfg = load_config(BASE)["model"]["head"]
    head = MODELS.build(head_cfg)  # num_classes: 80
    state = convert_state_dict(models.tv_state, classes="coco80")
    head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    x = torch.randn(1, 256, 3, 4)
    with torch.no_grad():
        expected = tv.head.classification_head.cls_logits(x).view(1, 9, 91, 3, 4)
        got = head.cls_logits(x).view(1, 9, 80, 3, 4)
    torch.testing.assert_close(got, expected[:, :, COCO80_IDS], **TOL)
