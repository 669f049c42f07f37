"""detplug_torchvision.masks: ``image_masks`` (binary masks of a prediction at an image size)
against torchvision's resize and ``paste_masks_in_image``, and ``encode_rle`` against
pycocotools' own decode, area and IoU (issue 27)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detplug_torchvision.masks import encode_rle, image_masks
from pycocotools import mask as mask_utils
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF


def _random_binary(d: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    masks = torch.rand(d, h, w, generator=generator) > 0.6
    masks[0] = False  # an empty mask
    masks[-1, 2:7, 3:11] = True
    return masks


def test_encode_rle_round_trips_through_pycocotools():
    masks = _random_binary(4, 13, 21)  # not square: row/column order matters
    encoded = encode_rle(masks)
    assert [e["size"] for e in encoded] == [[13, 21]] * 4
    assert all(isinstance(e["counts"], str) for e in encoded)  # JSON-ready
    decoded = mask_utils.decode(encoded)  # [H, W, D]
    assert np.array_equal(decoded.transpose(2, 0, 1), masks.numpy().astype(np.uint8))
    assert mask_utils.area(encoded).tolist() == masks.sum((1, 2)).tolist()
    # pycocotools' IoU of the encodings equals the IoU of the pixels
    a, b = masks.numpy()[1], masks.numpy()[2]
    want = np.logical_and(a, b).sum() / np.logical_or(a, b).sum()
    assert mask_utils.iou(encoded[1:2], encoded[2:3], [0])[0, 0] == pytest.approx(want, abs=1e-12)
    assert encode_rle(torch.zeros(0, 5, 6, dtype=torch.bool)) == []


def test_full_image_masks_threshold_at_one_half():
    prob = torch.tensor([[[[0.2, 0.5], [0.49, 0.9]]]])  # [1, 1, 2, 2]
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    got = image_masks({"masks": prob, "boxes": boxes}, (2, 2))
    assert got.dtype == torch.bool and got.tolist() == [[[False, True], [False, True]]]
    # [D, H, W] and 0/1 integer masks work too
    ones = image_masks({"masks": torch.ones(1, 2, 2, dtype=torch.uint8)}, (2, 2))
    assert ones.shape == (1, 2, 2) and bool(ones.all())


def test_full_image_masks_of_another_size_are_resized_like_torchvision():
    prob = torch.rand(3, 1, 20, 30, generator=torch.Generator().manual_seed(1))
    got = image_masks({"masks": prob}, (37, 41))
    want = TF.resize(prob, [37, 41], InterpolationMode.BILINEAR, antialias=False)[:, 0] >= 0.5
    assert torch.equal(got, want)


def test_box_masks_are_pasted_like_torchvision():
    grids = torch.rand(3, 1, 14, 14, generator=torch.Generator().manual_seed(2))
    boxes = torch.tensor([[3.2, 4.7, 20.1, 30.9], [-5.0, 10.0, 12.0, 48.0], [0.0, 0.0, 39.0, 47.0]])
    got = image_masks({"box_masks": grids, "boxes": boxes}, (45, 40))
    pasted = paste_masks_in_image(grids, boxes, (45, 40), padding=1)[:, 0]
    # the same binary masks, except where float rounding puts a pixel on 0.5 itself
    differ = got != (pasted >= 0.5)
    assert differ.sum() <= 2 and ((pasted[differ] - 0.5).abs() < 1e-5).all()
    assert got.sum() > 0


def test_no_masks_and_no_detections():
    assert image_masks({"boxes": torch.zeros(0, 4)}, (5, 6)) is None
    empty = image_masks({"masks": torch.zeros(0, 1, 10, 10)}, (5, 6))
    assert empty.shape == (0, 5, 6) and empty.dtype == torch.bool
    none_pasted = image_masks(
        {"box_masks": torch.zeros(0, 1, 7, 7), "boxes": torch.zeros(0, 4)}, (5, 6)
    )
    assert none_pasted.shape == (0, 5, 6)
