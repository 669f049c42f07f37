"""FasterRCNN equals torchvision's fasterrcnn_resnet50_fpn on converted random weights.

torchvision's model is built as fasterrcnn_resnet50_fpn builds it for pretrained weights
(ResNet-50 with FrozenBatchNorm2d, trainable layers 3, FPN P2-P6), its weights and
BatchNorm statistics randomised, converted with the plugin's converter and loaded into the
model of faster_rcnn::models/faster_rcnn_r50_fpn.yaml. Images have their shorter side
equal to ``min_size`` so torchvision's internal resize is the identity (``_skip_resize`` in
train mode, which also keeps the resize from drawing random numbers).

Sampling (RPN anchors, RoI proposals): both samplers draw ``torch.randperm`` for the
positives then the negatives of each image, RPN first, in the same order, so seeding
``torch.manual_seed`` identically before each model's forward makes them pick the same
indices. To keep the test fast, both models run with smaller proposal and sampling budgets
(set identically on both); test_hyperparameters_are_torchvisions checks the defaults.

detplug-torchvision's ResNet folds each FrozenBatchNorm into its convolution, which rounds
differently (features agree to ~1e-5 relative, checked below). Near-equal objectness
scores could then swap places and change which proposals are kept or sampled, so the
comparisons of outputs and losses run torchvision's model on detplug's backbone + FPN
features: everything Faster R-CNN-specific (RPN, proposals, sampling, RoIAlign, box head,
losses, post-processing) must agree to 1e-4 on identical features.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import pytest
import torch
from detplug_faster_rcnn.convert import COCO80_IDS, convert_state_dict
from torchvision.models import resnet50
from torchvision.models.detection import FasterRCNN as TVFasterRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.config import load_config

BASE = "faster_rcnn::models/faster_rcnn_r50_fpn.yaml"
SIZES = [(128, 160), (128, 128)]  # shorter sides equal min_size: no resize in torchvision
TOL = {"rtol": 1e-4, "atol": 1e-4}


def randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Random FrozenBN statistics and affine; RPN and box-head weights with enough spread
    that proposals, scores and boxes vary (torchvision's init makes them all alike)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, FrozenBatchNorm2d):
                n = m.weight.numel()
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            elif isinstance(m, torch.nn.Conv2d | torch.nn.Linear) and "." in name:
                if not name.startswith(("rpn", "roi_heads")):
                    continue
                final = name.endswith(("bbox_pred", "cls_score"))
                std = 0.003 if final else (2 / m.weight[0].numel()) ** 0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * std)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * (1.0 if final else 0.1))


class SharedFeatures(torch.nn.Module):
    """Stands in for torchvision's backbone: detplug's backbone + neck, under torchvision's
    level names (MultiScaleRoIAlign picks levels by name)."""

    def __init__(self, ours: torch.nn.Module) -> None:
        super().__init__()
        self.ours = [ours]  # not a submodule: no parameters of its own
        self.out_channels = ours.neck.out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        ours = self.ours[0]
        feats = ours.neck(ours.backbone(x)).values()
        return OrderedDict(zip(["0", "1", "2", "3", "pool"], feats, strict=True))


class Models(NamedTuple):
    tv: TVFasterRCNN  # running on detplug's features (SharedFeatures)
    ours: torch.nn.Module
    tv_backbone: torch.nn.Module  # torchvision's own backbone + FPN
    tv_state: dict  # torchvision's state dict, as converted


@pytest.fixture(scope="module")
def models() -> Models:
    torch.manual_seed(0)
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    tv = TVFasterRCNN(
        _resnet_fpn_extractor(body, 3), 91, min_size=128, max_size=1000, _skip_resize=True
    )
    randomize(tv)
    cfg = load_config(BASE)["model"]
    cfg["roi_head"]["num_classes"] = 90  # --classes all: torchvision's 90 foreground slots
    ours = MODELS.build(cfg)
    ours.load_state_dict(convert_state_dict(tv.state_dict(), classes="all"))
    tv_backbone, tv_state = tv.backbone, tv.state_dict()
    tv.backbone = SharedFeatures(ours)
    return Models(tv, ours, tv_backbone, tv_state)


@contextlib.contextmanager
def small_budgets(tv: TVFasterRCNN, ours: torch.nn.Module) -> Iterator[None]:
    """Fewer proposals and sampled RoIs (the fc6 layer dominates the CPU time)."""
    saved = (
        dict(tv.rpn._post_nms_top_n),
        tv.roi_heads.fg_bg_sampler.batch_size_per_image,
        dict(ours.rpn.proposals.post_nms_top_n),
        ours.roi_head.assigner.sampler.num,
    )
    tv.rpn._post_nms_top_n.update(training=600, testing=300)
    ours.rpn.proposals.post_nms_top_n.update({True: 600, False: 300})
    tv.roi_heads.fg_bg_sampler.batch_size_per_image = ours.roi_head.assigner.sampler.num = 128
    try:
        yield
    finally:
        tv.rpn._post_nms_top_n, ours.rpn.proposals.post_nms_top_n = saved[0], saved[2]
        tv.roi_heads.fg_bg_sampler.batch_size_per_image = saved[1]
        ours.roi_head.assigner.sampler.num = saved[3]


@pytest.fixture(scope="module")
def images() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.rand(3, h, w, generator=g) for h, w in SIZES]


def random_targets(seed: int) -> list[dict]:
    """torchvision-style targets: labels 1..90 (0 is background)."""
    g = torch.Generator().manual_seed(seed)
    targets = []
    for h, w in SIZES:
        xy = torch.rand(5, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
        wh = torch.rand(5, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5]) + 8
        boxes = torch.cat([xy, (xy + wh).minimum(torch.tensor([w, h]))], dim=1)
        targets.append({"boxes": boxes, "labels": torch.randint(1, 91, (5,), generator=g)})
    return targets


def shifted(targets: list[dict]) -> list[dict]:
    """detplug labels are torchvision's minus one."""
    return [{"boxes": t["boxes"], "labels": t["labels"] - 1} for t in targets]


def by_score(det: dict) -> dict:
    order = det["scores"].argsort(descending=True, stable=True)
    return {k: v[order] for k, v in det.items()}


def test_backbone_and_fpn_features_match(models, images):
    _, ours, tv_backbone, _ = models
    ours.eval()
    with torch.no_grad():
        x, _ = ours.preprocessor(images)
        expected = list(tv_backbone(x).values())
        got = list(ours.neck(ours.backbone(x)).values())
    assert len(got) == len(expected) == 5
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4 * e.abs().max().item())


def test_hyperparameters_are_torchvisions(models):
    tv, ours = models[:2]
    assert (
        ours.rpn.proposals.pre_nms_top_n
        == {True: 2000, False: 1000}
        == {
            True: tv.rpn._pre_nms_top_n["training"],
            False: tv.rpn._pre_nms_top_n["testing"],
        }
    )
    assert ours.rpn.proposals.post_nms_top_n[True] == tv.rpn._post_nms_top_n["training"]
    assert ours.rpn.proposals.post_nms_top_n[False] == tv.rpn._post_nms_top_n["testing"]
    stages = [
        (ours.rpn, ours.rpn.proposals, tv.rpn),
        (ours.roi_head, ours.roi_head.postprocess, tv.roi_heads),
    ]
    for a, post, b in stages:
        matcher, sampler = a.assigner.matcher, a.assigner.sampler
        assert matcher.high_threshold == b.proposal_matcher.high_threshold
        assert matcher.low_threshold == b.proposal_matcher.low_threshold
        assert matcher.allow_low_quality_matches == b.proposal_matcher.allow_low_quality_matches
        assert sampler.num == b.fg_bg_sampler.batch_size_per_image
        assert sampler.positive_fraction == b.fg_bg_sampler.positive_fraction
        assert post.nms_thresh == b.nms_thresh
        assert a.box_coder.weights == b.box_coder.weights
        assert a.assigner.box_coder is post.box_coder is a.box_coder
    assert ours.rpn.anchor_generator.sizes == [list(s) for s in tv.rpn.anchor_generator.sizes]
    proposals = ours.rpn.proposals
    assert proposals.min_size == tv.rpn.min_size and proposals.score_thresh == tv.rpn.score_thresh
    head, tv_head = ours.roi_head, tv.roi_heads
    assert (head.postprocess.score_thresh, head.postprocess.detections_per_img) == (
        tv_head.score_thresh,
        tv_head.detections_per_img,
    )
    assert head.roi_align.output_size == tv_head.box_roi_pool.output_size
    assert head.roi_align.sampling_ratio == tv_head.box_roi_pool.sampling_ratio
    assert ours.preprocessor.size_divisible == tv.transform.size_divisible
    assert ours.preprocessor.mean.flatten().tolist() == pytest.approx(tv.transform.image_mean)
    assert ours.preprocessor.std.flatten().tolist() == pytest.approx(tv.transform.image_std)


def test_eval_outputs_match(models, images):
    tv, ours = models[:2]
    tv.eval(), ours.eval()
    with torch.no_grad(), small_budgets(tv, ours):
        expected, got = tv(images), ours(images)
    for e, g in zip(expected, got, strict=True):
        assert len(e["boxes"]) > 20  # the comparison is not vacuous
        e, g = by_score(e), by_score(g)
        assert torch.equal(e["labels"], g["labels"] + 1)
        torch.testing.assert_close(g["scores"], e["scores"], **TOL)
        torch.testing.assert_close(g["boxes"], e["boxes"], **TOL)


@pytest.mark.parametrize("empty_image", [False, True])
def test_training_losses_match_under_one_seed(models, images, empty_image):
    tv, ours = models[:2]
    targets = random_targets(2)
    if empty_image:
        targets[1] = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    tv.train(), ours.train()
    with torch.no_grad(), small_budgets(tv, ours):
        torch.manual_seed(7)
        expected = tv(images, targets)
        torch.manual_seed(7)
        got = ours(images, shifted(targets))
    names = {
        "loss_rpn_cls": "loss_objectness",
        "loss_rpn_bbox": "loss_rpn_box_reg",
        "loss_cls": "loss_classifier",
        "loss_bbox": "loss_box_reg",
    }
    assert set(got) == set(names)
    for ours_name, tv_name in names.items():
        torch.testing.assert_close(got[ours_name], expected[tv_name], **TOL, msg=ours_name)


def test_coco80_conversion_keeps_background_and_the_80_categories(models):
    tv = models.tv
    state = convert_state_dict(models.tv_state, classes="coco80")
    rows, predictor = [0, *COCO80_IDS], tv.roi_heads.box_predictor
    assert torch.equal(state["roi_head.cls_score.weight"], predictor.cls_score.weight[rows])
    assert torch.equal(state["roi_head.cls_score.bias"], predictor.cls_score.bias[rows])
    got = state["roi_head.bbox_pred.weight"].view(81, 4, -1)
    assert torch.equal(got, predictor.bbox_pred.weight.view(91, 4, -1)[rows])
    got = state["roi_head.bbox_pred.bias"].view(81, 4)
    assert torch.equal(got, predictor.bbox_pred.bias.view(91, 4)[rows])
    cfg = load_config(BASE)["model"]["roi_head"]
    head = MODELS.build(cfg)  # num_classes: 80
    head.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith("roi_head.")})
