"""MaskRCNN equals torchvision's maskrcnn_resnet50_fpn on converted random weights, on real
photos (BCCD) of three sizes, one of them greyscale.

torchvision's model is ``maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)`` (seed
0; a ResNet-50 with BatchNorm2d, used in eval mode), its BatchNorm statistics and head
weights randomised so that scores, boxes and masks vary (its own init makes every proposal
look alike), converted with the plugin's converter (``classes="all"``) and loaded into the
model of mask_rcnn::models/mask_rcnn_r50_fpn.yaml. The photos' shorter side equals
torchvision's ``min_size``, so its internal resize is the identity (``_skip_resize`` in
train mode, which also keeps it from drawing random numbers).

As in detplug-faster-rcnn's equivalence test: detplug's ResNet folds each BatchNorm into its
convolution, which rounds differently (features agree to ~1e-5 relative, checked below), and
near-equal objectness scores could then swap which proposals are kept; so outputs and losses
are compared with torchvision's model running on detplug's backbone + FPN features, and
both samplers draw the same ``torch.randperm`` stream under one seed. Budgets (proposals,
sampled RoIs, detections) are smaller on both models alike, to keep the test fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch
from detplug_mask_rcnn.convert import convert_state_dict
from detplug_torchvision.testing import (
    TOL,
    EquivalentPair,
    align_near_ties,
    assert_backbone_features_match,
    on_shared_features,
    random_targets,
    randomize_detector,
    sort_detections,
)
from mask_rcnn_testutils import BCCD, ellipse_masks, mask_iou, photos
from torchvision.models.detection import maskrcnn_resnet50_fpn

from detplug_core import MODELS
from detplug_core.config import load_config

pytestmark = pytest.mark.skipif(not BCCD.is_dir(), reason=f"{BCCD} is not here")

BASE = "mask_rcnn::models/mask_rcnn_r50_fpn.yaml"
MIN_SIZE = 224
SIZES = [(224, 288), (272, 224), (224, 224)]  # shorter sides equal MIN_SIZE: no resize
GREY = 2  # the third photo is greyscale


@torch.no_grad()
def randomize_batch_norm(model: torch.nn.Module, seed: int = 0) -> None:
    """BatchNorm2d statistics and affine away from (0, 1), so a converter that drops or mixes
    them up is caught (randomize_detector randomises FrozenBatchNorm2d only)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)


@pytest.fixture(scope="module")
def models() -> EquivalentPair:
    torch.manual_seed(0)
    tv = maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=MIN_SIZE, max_size=1000, _skip_resize=True
    )
    randomize_batch_norm(tv.backbone)
    randomize_detector(
        tv,
        heads=("rpn.", "roi_heads."),
        finals=("bbox_pred", "cls_score"),
        layers=(torch.nn.Conv2d, torch.nn.Linear),
    )
    tv.eval()
    cfg = load_config(BASE)["model"]
    cfg["roi_head"]["num_classes"] = 90  # --classes all: torchvision's 90 foreground slots
    ours = MODELS.build(cfg)
    ours.load_state_dict(convert_state_dict(tv.state_dict(), classes="all"))
    return on_shared_features(tv, ours, ["0", "1", "2", "3", "pool"])  # RoIAlign picks by name


@contextlib.contextmanager
def small_budgets(tv: torch.nn.Module, ours: torch.nn.Module) -> Iterator[None]:
    """Fewer proposals, sampled RoIs and detections on both models (CPU time)."""
    tv_rpn, our_rpn = tv.rpn._post_nms_top_n, ours.rpn.proposals.post_nms_top_n
    tv_roi, our_roi = tv.roi_heads, ours.roi_head
    saved = (
        dict(tv_rpn),
        dict(our_rpn),
        tv_roi.fg_bg_sampler.batch_size_per_image,
        our_roi.assigner.sampler.num,
        tv_roi.detections_per_img,
        our_roi.postprocess.detections_per_img,
    )
    tv_rpn.update(training=300, testing=200)
    our_rpn.update({True: 300, False: 200})
    tv_roi.fg_bg_sampler.batch_size_per_image = our_roi.assigner.sampler.num = 64
    tv_roi.detections_per_img = our_roi.postprocess.detections_per_img = 30
    try:
        yield
    finally:
        tv_rpn.clear(), tv_rpn.update(saved[0]), our_rpn.clear(), our_rpn.update(saved[1])
        tv_roi.fg_bg_sampler.batch_size_per_image, our_roi.assigner.sampler.num = saved[2:4]
        tv_roi.detections_per_img, our_roi.postprocess.detections_per_img = saved[4:6]


@pytest.fixture(scope="module")
def images() -> list[torch.Tensor]:
    return photos(SIZES, grey=GREY)


def test_photos_are_what_the_test_claims(images):
    assert [tuple(im.shape[-2:]) for im in images] == SIZES
    grey = images[GREY]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert not torch.equal(images[0][0], images[0][1])


def test_backbone_and_fpn_features_match(models, images):
    assert_backbone_features_match(models, images, levels=5)


def test_mask_hyperparameters_are_torchvisions(models):
    tv, ours = models[:2]
    pool, tv_pool = ours.roi_head.mask_roi_align, tv.roi_heads.mask_roi_pool
    assert pool.output_size == tv_pool.output_size == (14, 14)
    assert pool.sampling_ratio == tv_pool.sampling_ratio
    assert pool.featmap_names == tv_pool.featmap_names


def test_eval_boxes_and_masks_match(models, images):
    tv, ours = models[:2]
    tv.eval(), ours.eval()
    with torch.no_grad(), small_budgets(tv, ours):
        expected, got = tv(images), ours(images)
    for e, g, (h, w) in zip(expected, got, SIZES, strict=True):
        assert len(e["boxes"]) >= 20  # the comparison is not vacuous
        assert (
            g["masks"].shape == (len(g["boxes"]), 1, h, w) and g["masks"].dtype == e["masks"].dtype
        )
        e = sort_detections(e)
        g = align_near_ties(sort_detections({**g, "labels": g["labels"] + 1}), e, TOL["atol"])
        assert torch.equal(g["labels"], e["labels"])
        torch.testing.assert_close(g["scores"], e["scores"], **TOL)
        assert (g["boxes"] - e["boxes"]).abs().max() <= 1e-4 * max(h, w)
        ours_bin, tv_bin = g["masks"] > 0.5, e["masks"] > 0.5
        area = tv_bin.flatten(1).sum(1)
        assert (area > 0).float().mean() > 0.5  # most masks are not empty
        iou = mask_iou(ours_bin, tv_bin)
        assert iou.min() >= 0.99, (iou.min(), iou.argmin())


def mask_targets(seed: int, empty_image: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Five boxes per photo, each with the ellipse inscribed in it as its mask."""
    targets = random_targets(SIZES, seed)
    for i, (t, size) in enumerate(zip(targets, SIZES, strict=True)):
        if i == empty_image:
            t["boxes"], t["labels"] = torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)
        t["masks"] = ellipse_masks(t["boxes"], size)
    return targets


@pytest.mark.parametrize("empty_image", [None, 1])
def test_training_losses_match_under_one_seed(models, images, empty_image):
    tv, ours = models[:2]
    targets = mask_targets(2, empty_image)
    shifted = [{**t, "labels": t["labels"] - 1} for t in targets]  # detplug's are 0-based
    tv.train(), ours.train()
    with torch.no_grad(), small_budgets(tv, ours):
        torch.manual_seed(7)
        expected = tv(images, targets)
        torch.manual_seed(7)
        got = ours(images, shifted)
    names = {
        "loss_rpn_cls": "loss_objectness",
        "loss_rpn_bbox": "loss_rpn_box_reg",
        "loss_cls": "loss_classifier",
        "loss_bbox": "loss_box_reg",
        "loss_mask": "loss_mask",
    }
    assert set(got) == set(names)
    assert expected["loss_mask"] > 0.1  # positives were sampled: the mask loss is compared
    for ours_name, tv_name in names.items():
        torch.testing.assert_close(got[ours_name], expected[tv_name], **TOL, msg=ours_name)
