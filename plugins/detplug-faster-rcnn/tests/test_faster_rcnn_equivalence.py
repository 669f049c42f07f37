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
from collections.abc import Iterator

import pytest
import torch
from detplug_faster_rcnn.convert import COCO80_IDS, convert_state_dict
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
from torchvision.models.detection import FasterRCNN as TVFasterRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from detplug_core import MODELS
from detplug_core.config import load_config

BASE = "faster_rcnn::models/faster_rcnn_r50_fpn.yaml"
SIZES = [(128, 160), (128, 128)]  # shorter sides equal min_size: no resize in torchvision


@pytest.fixture(scope="module")
def models() -> EquivalentPair:
    torch.manual_seed(0)
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    tv = TVFasterRCNN(
        _resnet_fpn_extractor(body, 3), 91, min_size=128, max_size=1000, _skip_resize=True
    )
    randomize_detector(
        tv,
        heads=("rpn.", "roi_heads."),
        finals=("bbox_pred", "cls_score"),
        layers=(torch.nn.Conv2d, torch.nn.Linear),
    )
    cfg = load_config(BASE)["model"]
    cfg["roi_head"]["num_classes"] = 90  # --classes all: torchvision's 90 foreground slots
    ours = MODELS.build(cfg)
    ours.load_state_dict(convert_state_dict(tv.state_dict(), classes="all"))
    return on_shared_features(tv, ours, ["0", "1", "2", "3", "pool"])  # RoIAlign picks by name


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
    return random_images(SIZES)


def shifted(targets: list[dict]) -> list[dict]:
    """detplug labels are torchvision's minus one."""
    return [{"boxes": t["boxes"], "labels": t["labels"] - 1} for t in targets]


def test_backbone_and_fpn_features_match(models, images):
    assert_backbone_features_match(models, images, levels=5)


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
        assert_detections_match({**g, "labels": g["labels"] + 1}, e)


@pytest.mark.parametrize("empty_image", [False, True])
def test_training_losses_match_under_one_seed(models, images, empty_image):
    tv, ours = models[:2]
    targets = random_targets(SIZES, 2)
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
