"""What the detectors share to build and run their parts: build_part,
build_backbone_and_neck, PriorCache and matched_targets."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.parts import build_backbone_and_neck, build_part
from detplug_torchvision.preprocessor import DetPreprocessor
from detplug_torchvision.prior_cache import PriorCache
from detplug_torchvision.targets import matched_targets, require_targets, training_targets

from detplug_core import MODELS
from detplug_core.errors import BuildError

BACKBONE = {"type": "torchvision.ResNet", "depth": 18, "out_indices": [3, 4]}


def test_build_part_defaults_and_swaps() -> None:
    default = build_part(MODELS, None, "Det", "preprocessor", "torchvision.DetPreprocessor")
    assert isinstance(default, DetPreprocessor) and default.size_divisible == 32
    tuned = build_part(MODELS, {"size_divisible": 64}, "Det", "preprocessor", "DetPreprocessor")
    assert tuned.size_divisible == 64
    with pytest.raises(BuildError, match=r"Det\.preprocessor"):
        build_part(MODELS, {"nope": 1}, "Det", "preprocessor", "DetPreprocessor")


def test_neck_takes_the_backbone_channels_and_refuses_others() -> None:
    backbone, neck = build_backbone_and_neck(
        MODELS, BACKBONE, {"type": "torchvision.FPN", "out_channels": 16}, "Det"
    )
    assert list(neck.in_channels) == list(backbone.out_channels) == [256, 512]
    wrong = {"type": "torchvision.FPN", "out_channels": 16, "in_channels": [1, 2]}
    with pytest.raises(BuildError, match=r"Det: neck.in_channels \[1, 2\] differ"):
        build_backbone_and_neck(MODELS, BACKBONE, wrong, "Det")


def test_prior_cache_computes_once_per_shapes_and_key() -> None:
    calls = []

    def make(shapes):
        calls.append(shapes)
        return torch.zeros(len(shapes))

    cache: PriorCache = PriorCache(max_entries=2)
    levels = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4)]
    with torch.inference_mode():
        first = cache.get(levels, make, key=(64, 64))
    assert not first.is_inference()  # made for training too
    assert cache.get(levels, make, key=(64, 64)) is first
    cache.get(levels, make, key=(64, 96))
    assert calls == [[(8, 8), (4, 4)], [(8, 8), (4, 4)]]
    cache.get(levels[:1], make)  # a third entry: the cache starts over
    assert cache.get(levels, make, key=(64, 64)) is not first


def test_matched_targets_per_prior() -> None:
    boxes = torch.tensor([[0.0, 0, 4, 4], [2, 2, 8, 8]])
    labels = torch.tensor([5, 7])
    got_boxes, got_labels = matched_targets(torch.tensor([1, -1, 0, -2]), boxes, labels)
    assert got_labels.tolist() == [7, -1, 5, -2]
    assert torch.equal(got_boxes[[0, 2]], boxes[[1, 0]])
    empty_boxes, empty_labels = matched_targets(torch.tensor([-1, -1]), boxes[:0], labels[:0])
    assert empty_boxes.shape == (2, 4) and empty_labels.tolist() == [-1, -1]


def test_training_targets_refuse_misshapen_boxes() -> None:
    with pytest.raises(ValueError, match=r"target 0: boxes must be \[M, 4\]"):
        training_targets([{"boxes": torch.zeros(2, 3), "labels": torch.zeros(2)}], "cpu", 3)


def test_train_mode_needs_one_target_per_image() -> None:
    images = [torch.zeros(3, 8, 8)] * 2
    with pytest.raises(ValueError, match="Det in train mode needs targets"):
        require_targets("Det", images, None)
    with pytest.raises(ValueError, match="Det: got 2 images but 1 targets"):
        require_targets("Det", images, [{}])
