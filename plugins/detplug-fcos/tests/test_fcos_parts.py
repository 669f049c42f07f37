"""Unit tests of the FCOS pieces: preprocessor, assigner, post-processing, detector API."""

from __future__ import annotations

import pytest
import torch
from detplug_fcos import DetPreprocessor, FCOSAssigner, FCOSPostprocess
from detplug_fcos.points import level_points
from fcos_testutils import build_from_config
from torch import nn
from torchvision import tv_tensors
from torchvision.models.detection.fcos import FCOS as TvFCOS

from detplug_core.errors import BuildError, ConfigError

SMALL = "models/fcos_r18_fpn_small.yaml"
STRIDES = [8, 16, 32, 64, 128]


def test_preprocessor_normalises_and_pads_without_resizing() -> None:
    pre = DetPreprocessor(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), size_divisible=32)
    a, b = torch.rand(3, 50, 70), torch.rand(3, 65, 40)
    batch, sizes = pre([a, b])
    assert batch.shape == (2, 3, 96, 96) and sizes == [(50, 70), (65, 40)]
    torch.testing.assert_close(batch[0, :, :50, :70], (a - 0.5) / 0.25)
    torch.testing.assert_close(batch[1, :, :65, :40], (b - 0.5) / 0.25)
    assert batch[0, :, 50:].abs().sum() == 0 and batch[1, :, :, 40:].abs().sum() == 0
    u8, _ = pre([(a * 255).round().to(torch.uint8)])
    torch.testing.assert_close(u8[0, :, :50, :70], batch[0, :, :50, :70], atol=0.01, rtol=0)
    cl, _ = DetPreprocessor(channels_last=True, size_divisible=1)([a])
    assert cl.shape == (1, 3, 50, 70) and cl.is_contiguous(memory_format=torch.channels_last)
    eval_only = DetPreprocessor(channels_last="eval")
    assert not eval_only([a])[0].is_contiguous(memory_format=torch.channels_last)
    assert eval_only.eval()([a])[0].is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match=r"image 0.*\[3, H, W\]"):
        pre([torch.rand(1, 10, 10)])


def test_points_follow_torchvision_anchor_positions() -> None:
    points, sizes = level_points([(4, 5), (2, 3)], (32, 40), [8, 16])
    assert points.shape == (26, 2) and sizes.tolist() == [8.0] * 20 + [16.0] * 6
    assert points[:6].tolist() == [[0, 0], [8, 0], [16, 0], [24, 0], [32, 0], [0, 8]]
    assert points[20:23].tolist() == [[0, 0], [13, 0], [26, 0]]  # step = 40 // 3
    with pytest.raises(BuildError, match="strides"):
        level_points([(4, 5)], (32, 40), [8, 16])


def _assign(assigner: FCOSAssigner, points, sizes, counts, boxes):
    lower, upper = assigner.point_ranges(sizes, counts)
    return assigner(points, sizes, lower, upper, torch.tensor(boxes, dtype=torch.float32))


def test_assigner_rules() -> None:
    points = torch.tensor([[20.0, 20.0], [40.0, 40.0], [60.0, 20.0], [64.0, 64.0]])
    sizes = torch.full((4,), 8.0)
    plain = FCOSAssigner(center_sampling_radius=None)
    # nested boxes: the smaller one wins where both qualify
    idx = _assign(plain, points, sizes, [4], [[0, 0, 62, 62], [10, 10, 30, 30]])
    assert idx.tolist() == [1, 0, 0, -1]
    # centre sampling: within 1.25 * 8 = 10 px of the centre (31, 31)
    idx = _assign(FCOSAssigner(1.25), points, sizes, [4], [[0, 0, 62, 62]])
    assert idx.tolist() == [-1, 0, -1, -1]
    # scale range: farthest side 50 px is outside (0, 32)
    idx = _assign(FCOSAssigner(None, [[0, 32]]), points, sizes, [4], [[0, 0, 90, 90]])
    assert idx.tolist() == [-1, -1, -1, -1]
    assert _assign(plain, points, sizes, [4], torch.zeros(0, 4).tolist()).tolist() == [-1] * 4
    with pytest.raises(BuildError, match="2 ranges for 1 levels"):
        _assign(FCOSAssigner(None, [[0, 8], [8, 16]]), points, sizes, [4], [[0, 0, 9, 9]])


def _random_head(n: int, shapes, num_classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = sum(h * w for h, w in shapes)
    cls = torch.randn(n, a, num_classes, generator=g) * 2 - 2
    reg = torch.rand(n, a, 4, generator=g) * 3
    ctr = torch.randn(n, a, generator=g)
    return cls, reg, ctr


@pytest.mark.parametrize(("score", "topk", "dets"), [(0.2, 1000, 100), (0.05, 30, 50)])
def test_postprocess_equals_torchvision(score: float, topk: int, dets: int) -> None:
    shapes, batch_size, image_sizes = (
        [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)],
        (128, 160),
        [(120, 150), (128, 100)],
    )
    cls, reg, ctr = _random_head(2, shapes, 7)
    points, sizes = level_points(shapes, batch_size, STRIDES)
    counts = [h * w for h, w in shapes]
    ours = FCOSPostprocess(score, 0.6, topk, dets)(
        cls, reg, ctr, points, sizes, counts, image_sizes
    )

    backbone = nn.Conv2d(3, 32, 1)
    backbone.out_channels = 32
    tv = TvFCOS(backbone, 7, score_thresh=score, topk_candidates=topk, detections_per_img=dets)
    half = sizes[:, None] / 2
    anchors = torch.cat([points - half, points + half], dim=1).split(counts)
    outputs = {"cls_logits": cls, "bbox_regression": reg, "bbox_ctrness": ctr[..., None]}
    split = {k: list(v.split(counts, dim=1)) for k, v in outputs.items()}
    want = tv.postprocess_detections(split, [list(anchors)] * 2, image_sizes)
    for got, ref in zip(ours, want, strict=True):
        assert 0 < len(got["scores"]) <= dets and len(got["scores"]) == len(ref["scores"])
        order, ref_order = (
            got["scores"].argsort(descending=True),
            ref["scores"].argsort(descending=True),
        )
        torch.testing.assert_close(got["scores"][order], ref["scores"][ref_order])
        torch.testing.assert_close(got["boxes"][order], ref["boxes"][ref_order])
        assert torch.equal(got["labels"][order], ref["labels"][ref_order])


def test_postprocess_nothing_above_threshold() -> None:
    shapes = [(2, 2)]
    cls, reg, ctr = _random_head(2, shapes, 3)
    points, sizes = level_points(shapes, (16, 16), [8])
    out = FCOSPostprocess(score_thresh=1.0)(cls, reg, ctr, points, sizes, [4], [(16, 16)] * 2)
    assert [d["boxes"].shape for d in out] == [(0, 4), (0, 4)]
    assert out[0]["labels"].dtype == torch.int64


@pytest.fixture(scope="module")
def small_model() -> nn.Module:
    torch.manual_seed(0)
    model = build_from_config(SMALL, num_classes=3)
    with torch.no_grad():  # make detections appear at random init
        model.head.classification_head.cls_logits.bias.fill_(0.0)
    return model


def test_eval_boxes_are_in_each_image_own_pixels(small_model) -> None:
    small_model.eval()
    images = [torch.rand(3, 40, 90), torch.rand(3, 70, 30)]
    out = small_model(images)
    for det, img in zip(out, images, strict=True):
        assert len(det["boxes"]) > 0
        h, w = img.shape[1:]
        assert det["boxes"][:, 0::2].max() <= w and det["boxes"][:, 1::2].max() <= h
        assert det["labels"].dtype == torch.int64 and det["labels"].max() < 3


def test_train_with_empty_targets_and_tv_tensors(small_model) -> None:
    small_model.train()
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 64)]
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 2
    losses = small_model(images, empty)
    assert losses["loss_bbox"] == 0 and losses["loss_centerness"] == 0
    assert torch.isfinite(losses["loss_cls"]) and losses["loss_cls"] > 0
    sum(losses.values()).backward()
    boxes = tv_tensors.BoundingBoxes([[4, 4, 40, 30]], format="XYXY", canvas_size=(64, 64))
    targets = [
        {"boxes": boxes, "labels": torch.tensor([2]), "ignore": torch.tensor([False])},
        {
            "boxes": torch.tensor([[1.0, 1, 9, 9]]),
            "labels": torch.tensor([0]),
            "ignore": torch.tensor([True]),
        },
    ]
    losses = small_model(images, targets)
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_bbox"] > 0


def test_train_rejects_bad_targets(small_model) -> None:
    small_model.train()
    with pytest.raises(ConfigError, match=r"labels \[3\] outside 0\.\.2"):
        small_model(
            [torch.rand(3, 32, 32)],
            [{"boxes": torch.tensor([[1.0, 1, 9, 9]]), "labels": torch.tensor([3])}],
        )
    with pytest.raises(ValueError, match="needs targets"):
        small_model([torch.rand(3, 32, 32)])
