"""The dynamic soft-label assigner on hand-made cases."""

from __future__ import annotations

import pytest
import torch
from detplug_rtmdet import DynamicSoftLabelAssigner
from detplug_rtmdet.points import level_points

from detplug_core.errors import BuildError

STRIDES = [8, 16, 32]


def _setup(size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    return level_points([(size // s, size // s) for s in STRIDES], STRIDES)


def _perfect(points: torch.Tensor, box: list[float]) -> torch.Tensor:
    """Every point predicts ``box`` exactly (IoU 1 everywhere)."""
    return torch.tensor(box).expand(points.shape[0], 4)


def test_large_box_spans_levels_and_takes_dynamic_k() -> None:
    points, strides = _setup()
    box = [0.0, 0.0, 256.0, 256.0]
    cls = torch.zeros(points.shape[0], 3)
    index, iou = DynamicSoftLabelAssigner(topk=13)(
        cls, _perfect(points, box), points, strides, torch.tensor([box]), torch.tensor([1])
    )
    pos = index >= 0
    # Every IoU is 1: k = 13; equal class and IoU costs leave the centre prior, which
    # measures distance in strides, so the closest points of every level win.
    assert int(pos.sum()) == 13
    assert torch.allclose(iou[pos], torch.ones(13))
    assert set(strides[pos].tolist()) == {8.0, 16.0, 32.0}
    distance = (points - 128).norm(dim=1) / strides
    assert distance[pos].max() <= distance[~pos].min()


def test_tiny_box_between_points_takes_the_nearest() -> None:
    points, strides = _setup()
    box = [83.0, 42.0, 86.0, 45.0]  # 3 x 3 px: no stride-8 point inside
    cls = torch.zeros(points.shape[0], 3)
    pred = torch.tensor(box).expand(points.shape[0], 4) + 1.0  # IoU 4/14 with the box
    index, iou = DynamicSoftLabelAssigner()(
        cls, pred, points, strides, torch.tensor([box]), torch.tensor([2])
    )
    pos = (index >= 0).nonzero().squeeze(1)
    assert pos.numel() == 1
    assert points[pos[0]].tolist() == [88.0, 40.0] and strides[pos[0]] == 8
    assert iou[pos[0]].item() > 0


def test_empty_image_is_all_background() -> None:
    points, strides = _setup(64)
    index, iou = DynamicSoftLabelAssigner()(
        torch.zeros(points.shape[0], 3),
        torch.zeros(points.shape[0], 4),
        points,
        strides,
        torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.long),
    )
    assert (index == -1).all() and (iou == 0).all()


def test_point_shared_by_two_boxes_goes_to_the_cheaper() -> None:
    points, strides = _setup(64)
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0], [16.0, 16.0, 64.0, 64.0]])
    labels = torch.tensor([0, 1])
    # Every point predicts the first box and scores class 0 high: the points both boxes
    # want go to the first one, whose classification and IoU costs are lower.
    cls = torch.full((points.shape[0], 2), -4.0)
    cls[:, 0] = 4.0
    index, _ = DynamicSoftLabelAssigner()(
        cls, boxes[0].expand(points.shape[0], 4), points, strides, boxes, labels
    )
    assert ((index == 0).sum() > 0) and ((index == 1).sum() > 0)
    first = index == 0
    assert (index[first] == 0).all()
    # Each point has at most one box, and the second box still got its own points.
    assert index.shape == (points.shape[0],)


def test_soft_labels_are_the_ious_of_the_predictions() -> None:
    points, strides = _setup(64)
    box = torch.tensor([[8.0, 8.0, 40.0, 40.0]])
    pred = torch.tensor([8.0, 8.0, 40.0, 24.0]).expand(points.shape[0], 4)  # IoU 0.5
    index, iou = DynamicSoftLabelAssigner()(
        torch.zeros(points.shape[0], 1), pred, points, strides, box, torch.tensor([0])
    )
    pos = index >= 0
    # k = sum of the 13 best IoUs = 6.5 -> 6 positives, each with soft label 0.5.
    assert int(pos.sum()) == 6
    assert torch.allclose(iou[pos], torch.full((6,), 0.5))


def test_min_k_gives_a_box_that_many_positives_while_its_predictions_miss() -> None:
    points, strides = _setup(64)
    box = torch.tensor([[8.0, 8.0, 40.0, 40.0]])
    pred = torch.tensor([48.0, 48.0, 60.0, 60.0]).expand(points.shape[0], 4)  # IoU 0
    cls = torch.zeros(points.shape[0], 1)
    index, _ = DynamicSoftLabelAssigner()(cls, pred, points, strides, box, torch.tensor([0]))
    assert int((index >= 0).sum()) == 1  # k = sum of IoUs = 0 -> 1
    index, _ = DynamicSoftLabelAssigner(min_k=5)(cls, pred, points, strides, box, torch.tensor([0]))
    pos = index >= 0
    assert int(pos.sum()) == 5
    # the candidates are the points inside the box; with equal class and IoU costs the
    # centre prior ranks them: the nearest to the centre, in strides
    inside = ((points > 8) & (points < 40)).all(dim=1)
    distance = (points - 24).norm(dim=1) / strides
    assert (pos <= inside).all()
    assert distance[pos].max() <= distance[inside & ~pos].min()
    # a floor above the candidate count takes every candidate, no more
    index, _ = DynamicSoftLabelAssigner(min_k=1000)(
        cls, pred, points, strides, box, torch.tensor([0])
    )
    assert torch.equal(index >= 0, inside)


def test_min_k_below_one_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="min_k"):
        DynamicSoftLabelAssigner(min_k=0)
