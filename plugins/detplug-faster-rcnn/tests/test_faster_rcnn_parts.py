"""Faster R-CNN's parts one by one, on tiny inputs."""

from __future__ import annotations

import pytest
import torch
from detplug_faster_rcnn.sampler import BalancedSampler
from detplug_torchvision.testing.contract import assert_model_contract
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchorGenerator
from torchvision.models.detection.image_list import ImageList

from detplug_core import MODELS
from detplug_core.errors import BuildError, ConfigError

SMALL = {
    "type": "FasterRCNN",
    "backbone": {"type": "ResNet", "depth": 18, "out_indices": [1, 2, 3, 4], "frozen_stages": -1},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "pool"},
    "rpn": {"type": "RPN", "pre_nms_top_n_train": 200, "post_nms_top_n_train": 100},
    "roi_head": {
        "type": "RoIHead",
        "num_classes": 3,
        "box_head": {"type": "TwoMLPHead", "representation_size": 64},
        "batch_size_per_image": 32,
    },
}


def small_config(**roi_head) -> dict:
    return {**SMALL, "roi_head": {**SMALL["roi_head"], **roi_head}}


def test_sampler_draws_what_torchvisions_draws_under_one_seed():
    g = torch.Generator().manual_seed(0)
    labels = [torch.randint(-1, 3, (300,), generator=g), torch.randint(-1, 2, (50,), generator=g)]
    torch.manual_seed(3)
    pos_masks, neg_masks = BalancedPositiveNegativeSampler(64, 0.25)(labels)
    torch.manual_seed(3)
    sampled = BalancedSampler(64, 0.25)(labels)
    for (pos, neg), pos_mask, neg_mask in zip(sampled, pos_masks, neg_masks, strict=True):
        assert torch.equal(pos.sort().values, torch.where(pos_mask)[0])
        assert torch.equal(neg.sort().values, torch.where(neg_mask)[0])
    assert len(sampled[0][0]) == 16 and len(sampled[0][0]) + len(sampled[0][1]) == 64


def test_rpn_anchors_equal_torchvisions():
    gen = MODELS.build({"type": "torchvision.AnchorGenerator", "sizes": [[32], [64]]})
    tv = TVAnchorGenerator(((32,), (64,)), ((0.5, 1.0, 2.0),) * 2)
    feats = [torch.zeros(1, 1, 16, 8), torch.zeros(1, 1, 8, 4)]
    images = ImageList(torch.zeros(1, 3, 64, 32), [(60, 30)])
    assert torch.equal(gen((64, 32), [(16, 8), (8, 4)]), tv(images, feats)[0])


def test_small_model_trains_and_predicts_with_ignored_and_empty_targets():
    torch.manual_seed(0)
    model = MODELS.build(small_config())
    names = {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox"}
    assert_model_contract(model, names, num_classes=3, labels=(2, 0))
    assert model.roi_head.cls_score.weight.grad is not None


def test_rpn_proposals_respect_the_post_nms_budget():
    torch.manual_seed(0)
    model = MODELS.build(small_config()).eval()
    model.rpn.proposals.post_nms_top_n[False] = 7
    x, sizes = model.preprocessor([torch.rand(3, 64, 64)])
    with torch.no_grad():
        proposals, losses = model.rpn(list(model.neck(model.backbone(x)).values()), (64, 64), sizes)
    assert losses == {} and proposals[0].shape == (7, 4)


def test_bad_argument_names_the_key_path():
    cfg = small_config(box_head={"type": "TwoMLPHead", "representaton_size": 64})
    with pytest.raises(
        BuildError, match=r"roi_head\.box_head\.representaton_size.*representation_size"
    ):
        MODELS.build(cfg)


def test_label_beyond_num_classes_is_a_config_error():
    model = MODELS.build(small_config()).train()
    target = {"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0]]), "labels": torch.tensor([-1])}
    with pytest.raises(ConfigError, match=r"labels \[-1\] outside 0..2"):
        model([torch.rand(3, 64, 64)], [target])


def test_a_float64_model_trains_and_predicts_in_float64():
    torch.manual_seed(0)
    model = MODELS.build(small_config()).double()
    images = [torch.rand(3, 64, 80, dtype=torch.float64), torch.rand(3, 48, 64)]
    targets = [
        {"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.tensor([[1.0, 2.0, 20.0, 30.0]]), "labels": torch.tensor([0])},
    ]
    losses = model.train()(images, targets)
    assert losses["loss_cls"].dtype == torch.float64
    sum(losses.values()).backward()
    assert model.roi_head.cls_score.weight.grad.dtype == torch.float64
    with torch.no_grad():
        out = model.eval()(images)
    assert out[0]["boxes"].dtype == torch.float64


def test_each_stage_has_raw_output_heads_and_owns_its_parts():
    """docs/architecture.md, "Two stages": RPNHead and the box branch return raw outputs;
    the stages own assigner, loss and post-processing, built from the stage's keys."""
    from detplug_faster_rcnn.losses import RoILoss, RPNLoss
    from detplug_faster_rcnn.proposals import RPNProposals
    from detplug_faster_rcnn.roi_postprocess import RoIPostprocess
    from detplug_faster_rcnn.sampler import RoIAssigner, RPNAssigner

    model = MODELS.build(small_config(detections_per_img=7, fg_iou_thresh=0.6))
    rpn, roi = model.rpn, model.roi_head
    assert isinstance(rpn.assigner, RPNAssigner) and isinstance(rpn.loss, RPNLoss)
    assert isinstance(rpn.proposals, RPNProposals)
    assert isinstance(roi.assigner, RoIAssigner) and isinstance(roi.loss, RoILoss)
    assert isinstance(roi.postprocess, RoIPostprocess)
    assert rpn.proposals.post_nms_top_n[True] == 100 and roi.postprocess.detections_per_img == 7
    assert roi.assigner.matcher.high_threshold == 0.6
    assert rpn.assigner.box_coder is rpn.proposals.box_coder is rpn.box_coder
    assert roi.assigner.box_coder is roi.postprocess.box_coder is roi.box_coder
    with torch.no_grad():
        feats = list(model.neck(model.backbone(torch.rand(1, 3, 64, 64))).values())
        objectness, deltas = rpn.head(feats)
        logits, box_deltas = roi.predict_rois(feats, [torch.tensor([[4.0, 4, 40, 40]])], [(64, 64)])
    assert objectness.dim() == 2 and deltas.shape[-1] == 4
    assert logits.shape == (1, 4) and box_deltas.shape == (1, 16)
    # parameters only in the heads: the parts hold none (checkpoint keys unchanged)
    assert all(k.startswith(("rpn.head.", "roi_head.box_head.", "roi_head.cls_score.",
                             "roi_head.bbox_pred.")) for k in model.state_dict()
               if k.startswith(("rpn.", "roi_head.")))  # fmt: skip
