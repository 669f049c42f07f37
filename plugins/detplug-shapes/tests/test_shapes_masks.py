"""detplug-shapes' instance masks (``with_masks: true``): exact masks of the shapes, in box
order; the box-aware transforms of the recipes move them with the image; without the option
the samples and the generated pixels are what they were."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from detplug_shapes import ShapesDataset
from detplug_shapes.generator import SHAPE_KINDS, ShapesSpec, render_image, render_masks
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes

from detplug_core import TRANSFORMS

SHAPES = {"num_images": 6, "image_size": 96, "object_size": [12, 48], "min_objects": 3}


def exclusive_boxes(masks: torch.Tensor) -> torch.Tensor:
    """The pixel extent of each mask as x0, y0, x1, y1 with x1, y1 exclusive (COCO's)."""
    return masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])


def test_masks_are_the_exact_shapes_in_box_order(tmp_path):
    ds = ShapesDataset(
        "val", cache_dir=tmp_path, classes=list(SHAPE_KINDS), with_masks=True, **SHAPES
    )
    seen = set()
    for i in range(len(ds)):
        _, target = ds.load_raw(i)
        masks, boxes = target["masks"], target["boxes"]
        assert isinstance(masks, tv_tensors.Mask) and masks.dtype == torch.uint8
        assert masks.shape == (len(boxes), 96, 96) and len(boxes) >= 1
        assert torch.equal(exclusive_boxes(masks), boxes.as_subclass(torch.Tensor))
        areas = masks.flatten(1).sum(1).float()
        box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for label, area, box_area in zip(target["labels"].tolist(), areas, box_areas, strict=True):
            kind = SHAPE_KINDS[label]
            seen.add(kind)
            if kind == "rectangle":
                assert area == box_area  # fills its box
            elif kind == "ellipse":
                assert 0.65 < area / box_area < 0.9  # pi / 4 of it, in pixels
            elif kind == "triangle":
                assert 0.3 < area / box_area < 0.75
    assert {"rectangle", "ellipse", "triangle"} <= seen


def test_shapes_pixels_paint_their_masks():
    """Where a shape is on top, the image has its colour: a mask's pixels not covered by a
    later shape are nearly one colour (pixel noise only)."""
    spec = ShapesSpec("val", 4, 96, 3, 6, SHAPE_KINDS[:3], (12, 48), 0)
    image, objects = render_image(spec, 1)
    masks = render_masks(spec, 1).astype(bool)
    pixels = np.asarray(image, dtype=np.float32)
    assert len(masks) == len(objects)
    for k in range(len(masks)):
        visible = masks[k] & ~masks[k + 1 :].any(0)
        assert pixels[visible].std(0).max() < 12  # noise std 7, clipped at 0/255


def test_recipe_transforms_carry_the_masks(tmp_path):
    """The shapes recipes' training pipeline, resizing to another size and always flipping."""
    pipeline = [
        {"type": "torchvision.ResizeShortLong", "short": 64, "long": 64},
        {"type": "torchvision.RandomHorizontalFlip", "p": 1.0},
        {"type": "torchvision.SanitizeBoxes"},
        {"type": "torchvision.ToFloatImage"},
    ]
    ds = ShapesDataset("val", cache_dir=tmp_path, with_masks=True, transforms=pipeline, **SHAPES)
    raw = ShapesDataset("val", cache_dir=tmp_path, with_masks=True, **SHAPES)
    for i in range(len(ds)):
        image, target = ds[i]
        _, before = raw.load_raw(i)
        masks = target["masks"]
        assert isinstance(masks, tv_tensors.Mask) and masks.shape == (len(target["boxes"]), 64, 64)
        assert image.shape[-2:] == (64, 64)
        # the masks moved with the boxes (a nearest-neighbour resize by 2/3 may miss a
        # triangle's thin tip: within two pixels) ...
        diff = (exclusive_boxes(masks) - target["boxes"].as_subclass(torch.Tensor)).abs()
        assert diff.max() <= 2.0
        # ... and were flipped: the first mask's mirror is the resized original
        resized = torch.nn.functional.interpolate(before["masks"][None].float(), size=(64, 64))
        assert torch.equal(masks.flip(-1), resized[0].to(torch.uint8))


def test_sanitize_drops_a_box_with_its_mask():
    masks = tv_tensors.Mask(torch.zeros(2, 32, 32, dtype=torch.uint8))
    masks[0, 4:20, 4:20] = 1
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor([[4.0, 4.0, 20.0, 20.0], [30.0, 30.0, 30.5, 31.0]]),
            format="XYXY",
            canvas_size=(32, 32),
        ),
        "labels": torch.tensor([0, 1]),
        "masks": masks,
    }
    sanitize = TRANSFORMS.build({"type": "torchvision.SanitizeBoxes"})
    _, out = sanitize(tv_tensors.Image(torch.zeros(3, 32, 32)), target)
    assert out["masks"].shape == (1, 32, 32) and torch.equal(out["masks"][0], masks[0])


def test_without_the_option_samples_have_no_masks(tmp_path):
    ds = ShapesDataset("val", cache_dir=tmp_path, **SHAPES)
    assert "masks" not in ds.load_raw(0)[1]


def test_generated_pixels_and_boxes_are_unchanged():
    """A fixed digest of the first images of one spec: it changes only with the generator's
    output (then bump GENERATOR_VERSION, so caches regenerate, and update the digest)."""
    spec = ShapesSpec("train", 10, 128, 2, 8, SHAPE_KINDS, (16, 64), 0)
    digest = hashlib.sha256()
    for i in range(10):
        image, objects = render_image(spec, i)
        digest.update(np.asarray(image).tobytes())
        digest.update(repr(objects).encode())
    assert digest.hexdigest() == "bd032437df7649329ab184deb302e5fc550de08d9f1f26f9db6b0c6bb98e6c87"
