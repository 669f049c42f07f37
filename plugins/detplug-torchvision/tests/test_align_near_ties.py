"""align_near_ties: near-tied detections pair up across two implementations; nothing else
moves, so a real difference still fails the element-wise comparison after it."""

from __future__ import annotations

import torch
from detplug_torchvision.testing import align_near_ties, sort_detections


def _dets(scores, labels, boxes):
    return sort_detections(
        {
            "scores": torch.tensor(scores),
            "labels": torch.tensor(labels),
            "boxes": torch.tensor(boxes, dtype=torch.float32),
        }
    )


BOXES = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]


def test_a_swapped_near_tie_pairs_up() -> None:
    # 0.4825177 / 0.4825169: the same two detections, rounded into the other order.
    want = _dets([0.9, 0.4825177, 0.4825170], [1, 40, 75], BOXES)
    got = _dets([0.9, 0.4825169, 0.4825176], [1, 40, 75], BOXES)
    assert not torch.equal(got["labels"], want["labels"])
    aligned = align_near_ties(got, want)
    assert torch.equal(aligned["labels"], want["labels"])
    assert torch.equal(aligned["boxes"], want["boxes"])


def test_a_real_difference_is_left_to_fail() -> None:
    want = _dets([0.9, 0.6, 0.3], [1, 2, 3], BOXES)
    got = _dets([0.9, 0.6, 0.3], [1, 3, 2], BOXES)  # two labels truly differ
    aligned = align_near_ties(got, want)
    assert torch.equal(aligned["labels"], got["labels"])
    assert not torch.equal(aligned["labels"], want["labels"])


def test_a_tie_group_keeps_a_wrong_label_wrong() -> None:
    want = _dets([0.5, 0.5, 0.5], [1, 2, 3], BOXES)
    got = _dets([0.5, 0.5, 0.5], [3, 2, 2], BOXES)
    assert not torch.equal(align_near_ties(got, want)["labels"], want["labels"])
