"""RetinaNet's parts one by one, on tiny inputs."""

from __future__ import annotations

import pytest
import torch
from detplug_retinanet.assigner import IGNORED, NEGATIVE, MaxIoUAssigner
from detplug_torchvision.preprocessor import DetPreprocessor as Preprocessor
from detplug_torchvision.testing.contract import assert_model_contract
from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from detplug_core import MODELS
from detplug_core.errors import BuildError, ConfigError

SMALL = {
    "type": "RetinaNet",
    "backbone": {"type": "ResNet", "depth": 18, "frozen_stages": -1, "norm": "BN"},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "p6p7"},
    "head": {"type": "RetinaNetHead", "num_classes": 3, "num_convs": 1},
}


def small_config(**head) -> dict:
    return {**SMALL, "head": {**SMALL["head"], **head}}


def test_anchors_equal_torchvisions():
    sizes = [[32, 40, 50], [64, 80, 101]]
    ours = MODELS.build(
        {"type": "torchvision.AnchorGenerator", "sizes": sizes, "aspect_ratios": [0.5, 1, 2]}
    )
    tv = TVAnchorGenerator(tuple(map(tuple, sizes)), ((0.5, 1.0, 2.0),) * 2)
    feats = [torch.zeros(1, 1, 12, 10), torch.zeros(1, 1, 6, 5)]
    images = ImageList(torch.zeros(1, 3, 96, 80), [(90, 80)])
    assert ours.num_anchors_per_location == [9, 9]
    assert torch.equal(ours((96, 80), [(12, 10), (6, 5)]), tv(images, feats)[0])


def test_anchors_with_nominal_strides_and_cache():
    gen = MODELS.build(
        {
            "type": "torchvision.AnchorGenerator",
            "sizes": [[16]],
            "aspect_ratios": [1.0],
            "strides": [8],
        }
    )
    a = gen((40, 40), [(3, 3)])  # torchvision would infer stride 40 // 3 = 13
    assert a.shape == (9, 4) and a[1].tolist() == [0.0, -8.0, 16.0, 8.0]
    assert gen((40, 40), [(3, 3)]) is a  # cached per padded size and feature sizes


def test_assigner_thresholds_and_low_quality_matches():
    anchors = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 14], [50, 50, 60, 60], [0, 0, 10, 20.0]])
    gt = torch.tensor([[0, 0, 10, 10.0]])  # IoUs 1.0, 0.714, 0, 0.5
    strict = {"allow_low_quality_matches": False}
    matched = MaxIoUAssigner(pos_iou_thr=0.6, neg_iou_thr=0.55, **strict)(anchors, gt)
    assert matched.tolist() == [0, 0, NEGATIVE, NEGATIVE]
    matched = MaxIoUAssigner(pos_iou_thr=0.8, neg_iou_thr=0.4, **strict)(anchors, gt)
    assert matched.tolist() == [0, IGNORED, NEGATIVE, IGNORED]
    gt = torch.tensor([[0, 0, 10, 12.0]])  # IoUs 0.833, 0.857, 0, 0.6: none reaches 0.9
    matched = MaxIoUAssigner(pos_iou_thr=0.9, neg_iou_thr=0.5, **strict)(anchors, gt)
    assert matched.tolist() == [IGNORED, IGNORED, NEGATIVE, IGNORED]
    matched = MaxIoUAssigner(pos_iou_thr=0.9, neg_iou_thr=0.5)(anchors, gt)
    assert matched.tolist() == [IGNORED, 0, NEGATIVE, IGNORED]  # the GT keeps its best anchor
    empty = MaxIoUAssigner()(anchors, torch.zeros(0, 4))
    assert empty.tolist() == [NEGATIVE] * 4


def test_preprocessor_equals_torchvision_transform_without_resize():
    images = [torch.rand(3, 50, 70), torch.rand(3, 64, 40)]
    tv = GeneralizedRCNNTransform(50, 1000, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    tv.eval()
    tv.resize = lambda image, target: (image, target)  # compare normalise + pad only
    expected = tv(images)[0]
    batch, sizes = Preprocessor()(images)
    assert sizes == expected.image_sizes == [(50, 70), (64, 40)]
    assert torch.equal(batch, expected.tensors)


def test_small_model_trains_and_predicts_with_ignored_and_empty_targets():
    torch.manual_seed(0)
    model = MODELS.build(small_config())
    assert_model_contract(model, {"loss_cls", "loss_bbox"}, num_classes=3)


def test_ignored_boxes_are_dropped_before_assignment():
    torch.manual_seed(0)
    model = MODELS.build(small_config()).train()
    image = [torch.rand(3, 64, 64)]
    box = torch.tensor([[4.0, 4.0, 40.0, 30.0]])
    with_ignored = model(
        image,
        [
            {
                "boxes": torch.cat([box, box + 10]),
                "labels": torch.tensor([0, 1]),
                "ignore": torch.tensor([False, True]),
            }
        ],
    )
    without = model(image, [{"boxes": box, "labels": torch.tensor([0])}])
    for key in without:
        torch.testing.assert_close(with_ignored[key], without[key])


def test_giou_loss_by_config_and_bad_argument_names_the_key_path():
    model = MODELS.build({**SMALL, "loss": {"loss_bbox": {"type": "GIoULoss"}}})
    assert model.loss.loss_bbox.on_boxes
    bad = {**SMALL, "loss": {"loss_cls": {"type": "FocalLoss", "gama": 2.0}}}
    with pytest.raises(BuildError, match=r"loss\.loss_cls\.gama.*did you mean 'gamma'"):
        MODELS.build(bad)


def test_the_head_returns_raw_outputs_and_the_detector_owns_the_rest():
    model = MODELS.build(small_config())
    assert not hasattr(model.head, "loss") and not hasattr(model.head, "postprocess")
    assert type(model.loss).__name__ == "RetinaNetLoss"
    assert type(model.postprocess).__name__ == "RetinaNetPostprocess"
    assert type(model.assigner).__name__ == "MaxIoUAssigner"
    assert model.loss.box_coder is model.postprocess.box_coder is model.box_coder
    assert model.head.num_anchors == 9  # from the detector's anchor generator
    with torch.no_grad():
        feats = model.neck(model.backbone(torch.rand(1, 3, 64, 64)))
        logits, deltas = model.head(list(feats.values()))
    assert logits.shape[-1] == 3 and deltas.shape[-1] == 4


def test_the_old_head_layout_still_builds_with_a_warning():
    """Configs (and the configs inside older checkpoints) that set loss, post-processing,
    anchors or the assigner on the head build the same model, with a FutureWarning."""
    old = small_config(
        loss_bbox={"type": "GIoULoss"},
        detections_per_img=7,
        box_coder_weights=[2.0, 2.0, 1.0, 1.0],
        assigner={"type": "MaxIoUAssigner", "pos_iou_thr": 0.6},
        anchor_generator={"type": "AnchorGenerator", "sizes": [[32]] * 5, "aspect_ratios": [1.0]},
    )
    with pytest.warns(FutureWarning, match=r"head\.loss_bbox -> model\.loss\.loss_bbox"):
        model = MODELS.build(old)
    assert model.loss.loss_bbox.on_boxes and model.postprocess.detections_per_img == 7
    assert model.box_coder.weights == (2.0, 2.0, 1.0, 1.0)
    assert model.assigner.matcher.high_threshold == 0.6
    assert model.head.num_anchors == 1
    torch.manual_seed(0)
    new = MODELS.build(
        {
            **SMALL,
            "loss": {"loss_bbox": {"type": "GIoULoss"}},
            "postprocess": {"detections_per_img": 7},
        }
    )
    torch.manual_seed(0)
    with pytest.warns(FutureWarning):
        old_model = MODELS.build(small_config(loss_bbox={"type": "GIoULoss"}, detections_per_img=7))
    assert old_model.state_dict().keys() == new.state_dict().keys()
    for key, value in new.state_dict().items():
        assert torch.equal(old_model.state_dict()[key], value)


def test_head_rejects_unknown_norm():
    with pytest.raises(ValueError, match="norm"):
        MODELS.build(small_config(norm="BN"))


def test_label_beyond_num_classes_is_a_config_error():
    model = MODELS.build(small_config()).train()
    target = {"boxes": torch.tensor([[4.0, 4.0, 40.0, 30.0]]), "labels": torch.tensor([3])}
    with pytest.raises(ConfigError, match=r"labels \[3\] outside 0..2"):
        model([torch.rand(3, 64, 64)], [target])
