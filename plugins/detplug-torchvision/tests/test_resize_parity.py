"""``ResizeShortLong`` + ``DetPreprocessor`` against torchvision's GeneralizedRCNNTransform
on odd-sized images: the same size always, the same values with ``match_torchvision``."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.preprocessor import DetPreprocessor
from detplug_torchvision.transforms.resize import ResizeShortLong, short_long_size
from torchvision import tv_tensors
from torchvision.models.detection.transform import GeneralizedRCNNTransform

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# odd sizes where rounding and flooring disagree, both orientations, capped and uncapped
SIZES = [(333, 500), (481, 643), (375, 499), (427, 640), (1001, 1499), (613, 409), (97, 1031)]


def _torchvision(image: torch.Tensor, short: int, long: int):
    transform = GeneralizedRCNNTransform(short, long, list(MEAN), list(STD)).eval()
    batch, _ = transform([image.float() / 255])
    return batch.tensors[0], batch.image_sizes[0]


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_sizes_equal_torchvisions(height, width):
    image = torch.zeros(3, height, width)
    for short, long in ((800, 1333), (600, 1000), (320, 427)):
        _, expected = _torchvision(image, short, long)
        assert short_long_size(height, width, short, long) == tuple(expected)


@pytest.mark.parametrize(("height", "width"), SIZES[:4])
def test_values_match_torchvision_within_1e_5(height, width):
    gen = torch.Generator().manual_seed(height * width)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=gen)
    expected, size = _torchvision(image, 800, 1333)
    resized = ResizeShortLong(800, 1333, match_torchvision=True)(tv_tensors.Image(image))
    batch, sizes = DetPreprocessor(MEAN, STD).eval()([resized])
    assert sizes[0] == tuple(size)
    h, w = size
    assert (resized.shape[-2], resized.shape[-1]) == (h, w)
    assert (batch[0, :, :h, :w] - expected[:, :h, :w]).abs().max().item() < 1e-5


def test_boxes_move_with_the_image_as_torchvision_scales_them():
    image = tv_tensors.Image(torch.zeros(3, 481, 643, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes(
        torch.tensor([[10.0, 20.0, 300.0, 400.0]]), format="XYXY", canvas_size=(481, 643)
    )
    out_image, out_boxes = ResizeShortLong(800, 1333, match_torchvision=True)(image, boxes)
    h, w = out_image.shape[-2:]
    expected = torch.tensor([[10.0 * w / 643, 20.0 * h / 481, 300.0 * w / 643, 400.0 * h / 481]])
    assert torch.allclose(out_boxes, expected, atol=1e-4)
    assert out_image.dtype == torch.float32


def test_the_preprocessor_follows_the_model_dtype():
    pre = DetPreprocessor(MEAN, STD).double()
    batch, _ = pre([torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8), torch.rand(3, 9, 4)])
    assert batch.dtype == torch.float64 and batch.shape == (2, 3, 32, 32)
