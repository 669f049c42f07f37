"""The mask branch's parts on their own, and a small MaskRCNN end to end: mask pasting
against torchvision's documented geometry, the mask loss on hand-made targets, targets with
masks, the model contract with masks, and what MaskRCNN refuses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from detplug_mask_rcnn.losses import MaskLoss, mask_targets
from detplug_mask_rcnn.targets import mask_training_targets
from detplug_torchvision.masks import paste_masks
from mask_rcnn_testutils import ellipse_masks, mask_iou
from torchvision.models.detection.roi_heads import paste_masks_in_image

from detplug_core import MODELS
from detplug_core.errors import BuildError, ConfigError

SMALL = {
    "type": "MaskRCNN",
    "backbone": {"type": "ResNet", "depth": 18, "out_indices": [1, 2, 3, 4]},
    "neck": {"type": "FPN", "out_channels": 32, "extra_blocks": "pool"},
    "rpn": {"type": "RPN", "post_nms_top_n_train": 64, "post_nms_top_n_test": 32},
    "roi_head": {
        "type": "MaskRoIHead",
        "num_classes": 3,
        "batch_size_per_image": 32,
        "box_head": {"type": "TwoMLPHead", "representation_size": 32},
        "mask_head": {"num_convs": 2, "conv_channels": 16},
        "mask_predictor": {"deconv_channels": 16},
    },
}
SIZES = [(64, 80), (48, 64)]


def test_paste_equals_torchvisions_geometry():
    """Random masks at boxes inside, across the edges of and tiny in a 50 x 70 image."""
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(6, 1, 28, 28, generator=g)
    boxes = torch.tensor(
        [
            [10.0, 5.0, 40.0, 30.0],
            [-8.0, -3.0, 20.0, 12.5],  # over the top-left corner
            [55.3, 35.7, 75.0, 60.0],  # over the bottom-right corner
            [30.2, 20.9, 30.8, 21.4],  # smaller than a pixel
            [0.0, 0.0, 70.0, 50.0],  # the whole image
            [12.6, 44.1, 33.3, 49.9],
        ]
    )
    got = paste_masks(masks, boxes, (50, 70))
    assert got.shape == (6, 1, 50, 70)
    torch.testing.assert_close(got, paste_masks_in_image(masks, boxes, (50, 70)))
    assert paste_masks(masks[:0], boxes[:0], (50, 70)).shape == (0, 1, 50, 70)


def test_a_full_mask_pastes_to_its_box():
    """A mask of ones covers its box (the zero border fades outside it)."""
    box = torch.tensor([[16.0, 8.0, 72.0, 50.0]])
    pasted = paste_masks(torch.ones(1, 1, 28, 28), box, (64, 96))[0, 0] > 0.5
    expected = torch.zeros(64, 96, dtype=torch.bool)
    expected[8:50, 16:72] = True
    assert mask_iou(pasted[None], expected[None]).item() > 0.95


def test_mask_targets_crop_the_gt_mask_inside_the_roi():
    gt = torch.zeros(2, 40, 40, dtype=torch.uint8)
    gt[0, :, :20] = 1  # left half of the image
    gt[1] = 1
    rois = torch.tensor([[0.0, 0.0, 40.0, 40.0], [0.0, 0.0, 20.0, 40.0], [5.0, 5.0, 15.0, 15.0]])
    got = mask_targets(gt, torch.tensor([0, 0, 1]), rois, 28)
    assert got.shape == (3, 28, 28)
    assert (got[0, :, :13] == 1).all() and (got[0, :, 15:] == 0).all()  # half of the RoI
    # RoI 1 is the mask's own extent: bilinear sampling makes its last column fractional
    assert (got[1][:, :-1] > 0.99).all() and (0 < got[1][:, -1]).all() and (got[1] < 1).any()
    torch.testing.assert_close(got[2], torch.ones(28, 28))  # inside the mask


def test_mask_loss_is_the_bce_of_the_gt_class_mask():
    """Two GTs; each RoI takes the mask of the GT it overlaps most and is scored on the
    logits of its label only."""
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [20.0, 20.0, 40.0, 40.0]])
    masks = torch.zeros(2, 40, 40, dtype=torch.uint8)
    masks[0, :20, :20] = 1  # GT 0 fills its box; GT 1's mask is empty
    target = {"boxes": boxes, "labels": torch.tensor([0, 1]), "masks": masks}
    rois = [torch.tensor([[1.0, 1.0, 19.0, 19.0], [21.0, 21.0, 39.0, 39.0]])]
    logits = torch.full((2, 3, 28, 28), 50.0)  # wrong everywhere except ...
    logits[0, 1] = 2.0  # RoI 0, label 1 (1-based): target all ones
    logits[1, 2] = -3.0  # RoI 1, label 2: target all zeros
    loss = MaskLoss()(logits, rois, torch.tensor([1, 2]), [target])["loss_mask"]
    expected = (F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(-3.0))) / 2
    torch.testing.assert_close(loss, expected)


def test_mask_loss_without_positives_is_zero_with_a_gradient():
    logits = torch.randn(0, 3, 28, 28, requires_grad=True)
    loss = MaskLoss()(logits, [torch.zeros(0, 4)], torch.zeros(0, dtype=torch.int64), [{}])
    assert loss["loss_mask"].item() == 0.0 and loss["loss_mask"].requires_grad


def test_training_targets_carry_masks_and_drop_ignored_ones():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 20.0]])
    masks = ellipse_masks(boxes, (24, 32))
    target = {
        "boxes": boxes,
        "labels": torch.tensor([0, 1]),
        "masks": masks,
        "ignore": torch.tensor([True, False]),
    }
    (out,) = mask_training_targets([target], torch.device("cpu"), 2, [(24, 32)])
    assert torch.equal(out["masks"], masks[1:]) and torch.equal(out["boxes"], boxes[1:])


def test_targets_without_masks_or_with_masks_of_another_size_are_refused():
    target = {"boxes": torch.tensor([[0.0, 0.0, 5.0, 5.0]]), "labels": torch.tensor([0])}
    with pytest.raises(ConfigError, match=r"target 0 has no 'masks'"):
        mask_training_targets([target], torch.device("cpu"), 2, [(24, 32)])
    target["masks"] = torch.zeros(1, 32, 24, dtype=torch.uint8)  # H and W swapped
    with pytest.raises(ValueError, match=r"target 0: masks are \(32, 24\) but the image"):
        mask_training_targets([target], torch.device("cpu"), 2, [(24, 32)])
    target["masks"] = torch.zeros(2, 24, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="one mask per box"):
        mask_training_targets([target], torch.device("cpu"), 2, [(24, 32)])


def contract_batch() -> tuple[list[torch.Tensor], list[dict]]:
    """Two images: one with a box and an ignored one, one without boxes; ellipse masks."""
    torch.manual_seed(0)
    images = [torch.rand(3, h, w) for h, w in SIZES]
    boxes = torch.tensor([[4.0, 4.0, 40.0, 30.0], [10.0, 10.0, 20.0, 20.0]])
    targets = [
        {
            "boxes": boxes,
            "labels": torch.tensor([1, 2]),
            "ignore": torch.tensor([False, True]),
            "masks": ellipse_masks(boxes, SIZES[0]),
        },
        {
            "boxes": torch.zeros(0, 4),
            "labels": torch.zeros(0, dtype=torch.int64),
            "masks": torch.zeros(0, *SIZES[1], dtype=torch.uint8),
        },
    ]
    return images, targets


def test_small_mask_rcnn_keeps_the_model_contract():
    torch.manual_seed(0)
    model = MODELS.build(SMALL)
    images, targets = contract_batch()
    model.train()
    losses = model(images, targets)
    names = {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask"}
    assert set(losses) == names
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert losses["loss_mask"].item() > 0  # the GT box joins the proposals: a positive
    sum(losses.values()).backward()
    assert model.roi_head.mask_predictor.logits.weight.grad.abs().sum() > 0
    assert model.roi_head.mask_head.convs[0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        model.roi_head.postprocess.score_thresh = 0.0  # untrained: keep low scores
        out = model(images)
    for det, (h, w) in zip(out, SIZES, strict=True):
        assert len(det["boxes"]) > 0
        assert det["masks"].shape == (len(det["boxes"]), 1, h, w)
        assert det["masks"].dtype == torch.float32
        assert ((det["masks"] >= 0) & (det["masks"] <= 1)).all()


def test_mask_rcnn_needs_a_roi_head_with_a_mask_branch():
    cfg = {**SMALL, "roi_head": {**SMALL["roi_head"], "type": "RoIHead"}}
    for key in ("mask_head", "mask_predictor"):
        del cfg["roi_head"][key]
    with pytest.raises(BuildError, match="roi_head must have a mask branch"):
        MODELS.build(cfg)


def test_mask_parts_are_built_through_the_registry_by_type():
    """A ``type`` picks the part (here a class given directly, as a Python config may); an
    unknown name is an error naming the part's place in the config."""

    class HalfMaskLoss(MaskLoss):
        def __call__(self, *args, **kwargs):
            return {"loss_mask": super().__call__(*args, **kwargs)["loss_mask"] / 2}

    cfg = {**SMALL, "roi_head": {**SMALL["roi_head"], "mask_loss": {"type": HalfMaskLoss}}}
    assert isinstance(MODELS.build(cfg).roi_head.mask_loss, HalfMaskLoss)
    cfg = {**SMALL, "roi_head": {**SMALL["roi_head"], "mask_loss": {"type": "NoSuchLoss"}}}
    with pytest.raises(Exception, match=r"MaskRoIHead\.mask_loss\.type: 'NoSuchLoss'"):
        MODELS.build(cfg)


def test_masks_can_stay_on_their_box_grid():
    """``paste: false``: each detection's mask of its class on the 28x28 grid."""
    from detplug_mask_rcnn.postprocess import MaskPostprocess

    logits = torch.randn(3, 4, 28, 28)
    detections = [
        {"boxes": torch.tensor([[1.0, 2.0, 30.0, 40.0]]), "labels": torch.tensor([2])},
        {"boxes": torch.tensor([[0.0, 0.0, 9.0, 9.0]] * 2), "labels": torch.tensor([0, 1])},
    ]
    kept = MaskPostprocess(paste=False)(logits, detections, [(50, 60), (20, 20)])
    assert "masks" not in kept[0]
    assert kept[0]["box_masks"].shape == (1, 1, 28, 28)
    assert kept[1]["box_masks"].shape == (2, 1, 28, 28)
    torch.testing.assert_close(kept[0]["box_masks"][0, 0], logits[0, 3].sigmoid())
    torch.testing.assert_close(kept[1]["box_masks"][1, 0], logits[2, 2].sigmoid())
    pasted = MaskPostprocess()(logits, detections, [(50, 60), (20, 20)])
    assert pasted[0]["masks"].shape == (1, 1, 50, 60)
    expected = paste_masks(kept[0]["box_masks"], detections[0]["boxes"], (50, 60))
    torch.testing.assert_close(pasted[0]["masks"], expected)
