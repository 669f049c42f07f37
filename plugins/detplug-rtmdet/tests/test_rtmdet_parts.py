"""Shapes, gradients and sizes of the RTMDet parts: backbone, neck, head, loss, post-processing."""

from __future__ import annotations

import pytest
import torch
from detplug_rtmdet import (
    CSPNeXt,
    CSPNeXtPAFPN,
    RTMDetHead,
    RTMDetLoss,
    RTMDetPostprocess,
    quality_focal_loss,
)
from detplug_rtmdet.complexity import count_gflops, count_params
from detplug_rtmdet.points import decode, level_points
from rtmdet_testutils import build_from_config

from detplug_core import MODELS
from detplug_core.errors import BuildError


def _all_grads(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in module.parameters())


def test_backbone_shapes_and_gradients() -> None:
    backbone = CSPNeXt(widen_factor=0.25, deepen_factor=0.167, out_indices=(2, 3, 4))
    outs = backbone(torch.randn(2, 3, 96, 64))
    assert list(outs) == ["c3", "c4", "c5"]
    assert [tuple(x.shape) for x in outs.values()] == [
        (2, 64, 12, 8),
        (2, 128, 6, 4),
        (2, 256, 3, 2),
    ]
    assert backbone.out_channels == [64, 128, 256]
    sum(x.sum() for x in outs.values()).backward()
    _all_grads(backbone)


def test_backbone_freezing_and_checks() -> None:
    backbone = CSPNeXt(widen_factor=0.25, deepen_factor=0.167, frozen_stages=1).train()
    assert not any(p.requires_grad for p in backbone.stage1.parameters())
    assert all(p.requires_grad for p in backbone.stage2.parameters())
    assert not backbone.stem[0][1].training
    with pytest.raises(BuildError, match="out_indices"):
        CSPNeXt(out_indices=(5,))


def test_neck_shapes_and_gradients() -> None:
    neck = CSPNeXtPAFPN(in_channels=[16, 32, 64], out_channels=24)
    feats = {
        "c3": torch.randn(2, 16, 12, 10, requires_grad=True),
        "c4": torch.randn(2, 32, 6, 5, requires_grad=True),
        "c5": torch.randn(2, 64, 3, 3, requires_grad=True),  # odd sizes: upsampling to fit
    }
    outs = neck(feats)
    assert list(outs) == ["p3", "p4", "p5"]
    assert [tuple(x.shape) for x in outs.values()] == [
        (2, 24, 12, 10),
        (2, 24, 6, 5),
        (2, 24, 3, 3),
    ]
    sum(x.sum() for x in outs.values()).backward()
    _all_grads(neck)
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats.values())


def test_head_shapes_gradients_and_sharing() -> None:
    head = RTMDetHead(num_classes=5, in_channels=16, num_convs=2)
    levels = [torch.randn(2, 16, s, s) for s in (8, 4, 2)]
    cls, reg = head(levels)
    assert cls.shape == (2, 84, 5) and reg.shape == (2, 84, 4)
    (cls.sum() + reg.sum()).backward()
    _all_grads(head)
    # One set of conv weights for every level, a BatchNorm per level and conv.
    assert len(head.cls_towers) == 1 and len(head.cls_towers[0].norms) == 3
    separate = RTMDetHead(num_classes=5, in_channels=16, share_conv=False)
    assert count_params(separate) > count_params(head)
    # The initial foreground probability is the prior.
    assert torch.allclose(cls.sigmoid().mean(), torch.tensor(0.01), atol=5e-3)


def test_points_and_decode() -> None:
    points, strides = level_points([(2, 3), (1, 1)], [8, 16])
    assert points.tolist() == [[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8], [0, 0]]
    assert strides.tolist() == [8] * 6 + [16]
    boxes = decode(torch.zeros(2, 4), points[:2], strides[:2])  # exp(0) = one stride
    assert boxes.tolist() == [[-8, -8, 8, 8], [0, -8, 16, 8]]


def test_quality_focal_loss_values_and_gradient() -> None:
    logits = torch.tensor([[0.3, -1.0]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[0.7, 0.0]], dtype=torch.float64)
    p = logits.detach().sigmoid()
    bce = -(target * p.log() + (1 - target) * (1 - p).log())
    assert torch.allclose(quality_focal_loss(logits, target), bce * (target - p).abs() ** 2)
    assert torch.autograd.gradcheck(lambda x: quality_focal_loss(x, target).sum(), (logits,))
    # A prediction equal to its soft label costs nothing.
    exact = torch.logit(torch.tensor([0.7]))
    assert quality_focal_loss(exact, torch.tensor([0.7])).item() < 1e-12


def test_loss_normalisation_and_background() -> None:
    loss = RTMDetLoss()
    cls = torch.zeros(1, 3, 2, requires_grad=True)
    pred = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 5, 5]]], requires_grad=True)
    gt = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 20, 10], [0, 0, 0, 0]]])
    labels = torch.tensor([[1, 0, -1]])
    quality = torch.tensor([[1.0, 0.5, 0.0]])
    out = loss(cls, pred, gt, labels, quality)
    # GIoU loss: 0 for the exact box, 0.5 for the half box; weighted by quality, / sum 1.5.
    assert out["loss_bbox"].item() == pytest.approx(2.0 * 0.5 * 0.5 / 1.5)
    (out["loss_cls"] + out["loss_bbox"]).backward()
    assert cls.grad.abs().sum() > 0 and pred.grad[0, 2].abs().sum() == 0
    empty = loss(cls, pred, gt, torch.full((1, 3), -1), torch.zeros(1, 3))
    assert empty["loss_bbox"].item() == 0 and empty["loss_cls"].item() > 0


def test_postprocess_keeps_best_and_suppresses_duplicates() -> None:
    post = RTMDetPostprocess(score_thresh=0.3, nms_thresh=0.65, detections_per_img=10)
    points, strides = level_points([(2, 2)], [8])
    logits = torch.full((1, 4, 2), -10.0)
    logits[0, 0, 1], logits[0, 1, 1], logits[0, 3, 0] = 3.0, 2.0, 1.0
    dist = torch.zeros(1, 4, 4).log_()  # log 0: zero-size box at the point...
    dist[0, :, :] = torch.tensor(1.0).log()  # ...then one stride on each side
    dist[0, 1, 0] = torch.tensor(2.0).log()  # point 1 reaches left over point 0's box
    out = post(logits, dist, points, strides, [4], [(16, 16)])[0]
    # Point 0 (class 1) and point 1 (class 1) overlap by IoU 0.5 < 0.65: both kept;
    # boxes clipped to the 16x16 image.
    assert out["labels"].tolist() == [1, 1, 0]
    assert out["boxes"][0].tolist() == [0, 0, 8, 8]
    assert out["scores"].tolist() == pytest.approx(
        torch.sigmoid(torch.tensor([3.0, 2, 1])).tolist()
    )
    strict = RTMDetPostprocess(score_thresh=0.3, nms_thresh=0.3)
    assert strict(logits, dist, points, strides, [4], [(16, 16)])[0]["labels"].tolist() == [1, 0]


# The paper's Table (640 x 640, 80 classes): params (M), GFLOPs (multiply-accumulates).
PAPER = {
    "tiny": (4.8, 8.1),
    "s": (8.89, 14.8),
    "m": (24.71, 39.27),
    "l": (52.3, 80.23),
    "x": (94.86, 141.67),
}


@pytest.mark.parametrize("size", list(PAPER))
def test_size_matches_the_paper(size: str) -> None:
    model = build_from_config(f"models/rtmdet_{size}.yaml", num_classes=80)
    params, gflops = count_params(model) / 1e6, count_gflops(model, 640)
    paper_params, paper_gflops = PAPER[size]
    assert abs(params / paper_params - 1) < 0.05, params
    assert abs(gflops / paper_gflops - 1) < 0.05, gflops


def test_registered_names() -> None:
    for name in ("CSPNeXt", "CSPNeXtPAFPN", "RTMDetHead", "RTMDet", "DynamicSoftLabelAssigner"):
        assert MODELS.get(f"rtmdet.{name}") is not None


def test_cspnext_and_pafpn_serve_another_detector() -> None:
    """The backbone and neck are plain registered parts: FCOS trains and detects on them."""
    pytest.importorskip("detplug_fcos")
    from detplug_core.config import load_config

    cfg = load_config("fcos::fcos_r18_fpn_shapes.yaml")["model"]
    cfg["head"]["num_classes"] = 3
    cfg["backbone"] = {"type": "rtmdet.CSPNeXt", "widen_factor": 0.375, "deepen_factor": 0.167}
    cfg["neck"] = {"type": "rtmdet.CSPNeXtPAFPN", "out_channels": 64}
    cfg["strides"] = [8, 16, 32]
    model = MODELS.build(cfg)
    assert type(model).__name__ == "FCOS" and type(model.backbone) is CSPNeXt
    torch.manual_seed(0)
    images = [torch.rand(3, 96, 128), torch.rand(3, 128, 96)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[30.0, 5.0, 90.0, 40.0]]), "labels": torch.tensor([2])},
    ]
    losses = model(images, targets)
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_centerness"}
    sum(losses.values()).backward()
    _all_grads(model.backbone)
    _all_grads(model.neck)
    model.eval()
    detections = model(images)
    assert len(detections) == 2 and detections[0]["boxes"].shape[1] == 4
