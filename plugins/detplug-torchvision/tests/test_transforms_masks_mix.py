"""Instance masks through Mosaic and MixUp (each sample's masks placed, cut and dropped
exactly as its image and boxes) and end to end: detplug-shapes' masks through the Mask
R-CNN shapes recipe's pipeline and through an RTMDet-style mosaic/mixup pipeline."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.datasets import SampleError
from detplug_torchvision.transforms import MixUp, Mosaic
from mask_samples import assert_masks_follow_pixels, extents, ignored, mask_sample
from torchvision import tv_tensors

from detplug_core import DATASETS
from detplug_core.errors import BuildError

# (h, w) and instances of four images; labels 0-2, 3-5, 6-8, 9-11 (unique: one code each)
RECTS = [
    ((20, 28), [[2, 2, 12, 9], [15, 11, 26, 18]]),
    ((24, 16), [[1, 2, 9, 10], [3, 14, 14, 22]]),
    ((18, 18), [[2, 2, 15, 8], [4, 11, 10, 16]]),
    ((30, 22), [[2, 3, 19, 12], [5, 16, 13, 27], [15, 17, 20, 28]]),
]
ELLS = [(size, [("L", *shapes[0][0:4]), *shapes[1:]]) for size, shapes in RECTS]


def four(layout=RECTS, dtype=torch.uint8):
    out = []
    for k, ((h, w), shapes) in enumerate(layout):
        image, target = mask_sample(h, w, shapes, first_label=3 * k, channel1=40 * (k + 1))
        if dtype.is_floating_point:
            image = tv_tensors.wrap(image.to(dtype) / 255, like=image)
        out.append((image, target))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_mosaic_places_and_cuts_each_images_masks_as_its_pixels(seed):
    torch.manual_seed(seed)
    first, *others = four()
    image, target = Mosaic(size=32).mix(first, others)
    assert image.shape == (3, 64, 64) and target["masks"].shape[-2:] == (64, 64)
    # the images are enlarged (bilinear) and cut; rectangles: each mask spans its box
    assert_masks_follow_pixels(image, target, band=1, tight=True)
    # the masks of the boxes kept, in the samples' order
    labels = target["labels"].tolist()
    assert labels == sorted(labels)


def test_mosaic_with_nothing_cut_keeps_every_mask_whole():
    torch.manual_seed(0)
    first, *others = four(ELLS)
    image, target = Mosaic(size=32, center_range=[1.0, 1.0]).mix(first, others)
    assert target["labels"].tolist() == [0, 1, 3, 4, 6, 7, 9, 10, 11]
    assert_masks_follow_pixels(image, target, band=1, tight=True)
    # the first image fits 32 x 32 (factor 32/28) against the centre, top-left
    areas = target["masks"].flatten(1).sum(1)
    before = first[1]["masks"].flatten(1).sum(1).float() * (32 / 28) ** 2
    assert ((areas[:2] - before).abs() / before < 0.15).all()


def test_mosaic_drops_the_masks_of_the_boxes_cut_off():
    torch.manual_seed(0)
    first, *others = four()
    image, target = Mosaic(size=32, center_range=[0.1, 0.2]).mix(first, others)
    assert not {0, 1} <= set(target["labels"].tolist())  # the first image is mostly cut
    assert_masks_follow_pixels(image, target, band=1, tight=True)


def test_mosaic_and_mixup_keep_bool_masks_bool():
    torch.manual_seed(0)
    samples = [(img, dict(t, masks=tv_tensors.Mask(t["masks"].bool()))) for img, t in four()]
    image, target = Mosaic(size=32).mix(samples[0], samples[1:])
    assert target["masks"].dtype == torch.bool
    target["masks"] = tv_tensors.Mask(target["masks"].to(torch.uint8))
    assert_masks_follow_pixels(image, target, band=1, tight=True)
    _, target = MixUp(size=32).mix(samples[0], samples[1:2])
    assert target["masks"].dtype == torch.bool


def test_mosaic_of_float_images_keeps_uint8_masks():
    torch.manual_seed(2)
    first, *others = four(dtype=torch.float32)
    image, target = Mosaic(size=16).mix(first, others)
    assert image.dtype == torch.float32 and target["masks"].dtype == torch.uint8
    assert_masks_follow_pixels(image, target, band=2, box_tol=1.5, tight=False)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("flip_p", [0.0, 1.0])
def test_mixup_concatenates_the_masks_and_places_the_partners_as_its_pixels(seed, flip_p):
    """alpha 1 shows the partner alone, alpha 0 the sample alone: same draws, so the same
    geometry; each one's masks coincide with the pixels shown."""
    base = mask_sample(32, 36, [[2, 2, 14, 12], ("L", 18, 4, 34, 26)], first_label=0)
    partner = mask_sample(30, 24, [("L", 2, 2, 14, 18), [16, 4, 22, 26]], first_label=3)
    targets = {}
    for alpha in (0.0, 1.0):
        torch.manual_seed(seed)
        mixup = MixUp(size=40, ratio_range=[0.6, 1.6], flip_p=flip_p, alpha=alpha)
        image, target = mixup.mix(base, [partner])
        own = target["labels"] < 3
        shown = own if alpha == 0.0 else ~own
        part = {k: target[k][shown] for k in ("boxes", "labels", "ignore")}
        part["masks"] = tv_tensors.Mask(target["masks"][shown])
        part["boxes"] = tv_tensors.wrap(part["boxes"], like=target["boxes"])
        assert_masks_follow_pixels(image, part, band=2, box_tol=1.5, tight=False)
        targets[alpha] = target
    a, b = targets[0.0], targets[1.0]
    assert torch.equal(a["masks"], b["masks"]) and torch.equal(a["boxes"], b["boxes"])
    assert a["labels"][:2].tolist() == [0, 1]  # the sample's own first, unchanged
    assert torch.equal(a["masks"][:2], base[1]["masks"])
    assert a["ignore"].tolist() == ignored(a["labels"]).tolist()


def test_mixup_cuts_a_larger_partners_masks_to_the_image():
    torch.manual_seed(3)
    base = mask_sample(12, 20, [[1, 1, 6, 6]])
    partner = mask_sample(40, 40, [[0, 0, 40, 40], [30, 30, 38, 38]], first_label=3)
    _, target = MixUp(size=40, ratio_range=[1.0, 1.0], flip_p=1.0).mix(base, [partner])
    assert target["masks"].shape == (len(target["boxes"]), 12, 20)
    assert target["boxes"][1].tolist() == [0, 0, 20, 12]
    assert target["masks"][1].all()  # the whole-image partner covers the window


def test_multi_image_transforms_refuse_masks_in_keys_and_samples_without_masks():
    with pytest.raises(BuildError, match=r"Mosaic: 'masks' in keys: Mosaic moves"):
        Mosaic(keys=["labels", "masks"])
    first, *others = four()
    del others[1][1]["masks"]
    with pytest.raises(SampleError, match=r"Mosaic: 3 of the 4 samples .* have target\['masks'\]"):
        Mosaic(size=16).mix(first, others)
    partner = (first[0], dict(first[1], masks=tv_tensors.Mask(first[1]["masks"][:1])))
    with pytest.raises(SampleError, match=r"MixUp: target\['masks'\] has shape \[1, 20, 28\]"):
        MixUp(size=16).mix(others[0], [partner])


def test_samples_without_masks_combine_as_before():
    torch.manual_seed(0)
    first, *others = four()
    for _, target in [first, *others]:
        del target["masks"]
    _, target = Mosaic(size=16).mix(first, others)
    assert "masks" not in target
    _, target = MixUp(size=16).mix(first, others[:1])
    assert "masks" not in target


# -- end to end: detplug-shapes' masks ----------------------------------------------------

SHAPES = {"num_images": 6, "image_size": 64, "object_size": [10, 32], "min_objects": 2,
          "max_objects": 4, "with_masks": True}  # fmt: skip


def assert_masks_fit_boxes(image, target, tol: float = 1.5) -> None:
    masks, boxes = target["masks"], target["boxes"].as_subclass(torch.Tensor)
    assert isinstance(masks, tv_tensors.Mask) and masks.dtype == torch.uint8
    assert masks.shape == (len(boxes), *image.shape[-2:])
    assert len(boxes) == len(target["labels"]) == len(target["ignore"])
    ext = extents(masks)
    assert masks.flatten(1).bool().any(1).all()  # SanitizeBoxes dropped emptied ones
    assert (ext[:, :2] >= boxes[:, :2] - tol).all() and (ext[:, 2:] <= boxes[:, 2:] + tol).all()


def test_mask_rcnn_shapes_recipe_pipeline_carries_the_masks(tmp_path):
    pytest.importorskip("detplug_shapes")
    pytest.importorskip("detplug_mask_rcnn")
    from detplug_core.config import load_config

    cfg = load_config("mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml", ["imgsz=96"])
    dataset_cfg = dict(cfg["train_dataloader"]["dataset"], cache_dir=str(tmp_path), **SHAPES)
    ds = DATASETS.build(dataset_cfg)
    raw = DATASETS.build(dict(dataset_cfg, transforms=None))
    torch.manual_seed(0)
    for i in range(len(ds)):
        image, target = ds[i]
        _, before = raw[i]
        assert image.shape == (3, 96, 96) and image.dtype == torch.float32
        assert_masks_fit_boxes(image, target, tol=1.0)
        resized = torch.nn.functional.interpolate(before["masks"][None].float(), size=(96, 96))
        resized = resized[0].to(torch.uint8)
        masks = target["masks"].as_subclass(torch.Tensor)
        assert torch.equal(masks, resized) or torch.equal(masks, resized.flip(-1))


def test_mosaic_mixup_pipeline_over_shapes_carries_the_masks(tmp_path):
    pytest.importorskip("detplug_shapes")
    inner = dict(SHAPES, type="shapes.ShapesDataset", split="val", cache_dir=str(tmp_path))
    ds = DATASETS.build(
        {
            "type": "MultiImageMixDataset",
            "dataset": inner,
            "transforms": [
                {"type": "Mosaic", "size": 64, "fill": 114},
                {"type": "RandomScale", "scale": 128, "ratio_range": [0.5, 1.5]},
                {"type": "RandomCropUpTo", "size": 64},
                {"type": "SanitizeBoxes"},
                {"type": "RandomHorizontalFlip", "p": 0.5},
                {"type": "PadTo", "size": 64, "fill": 114},
                {"type": "MixUp", "size": 64, "ratio_range": [0.8, 1.2], "fill": 114},
                {"type": "SanitizeBoxes"},
                {"type": "ToFloatImage"},
            ],
        }
    )
    torch.manual_seed(0)
    counts = []
    for i in range(len(ds)):
        image, target = ds[i]
        assert image.shape == (3, 64, 64)
        assert_masks_fit_boxes(image, target, tol=2.0)  # two nearest resizes on the way
        counts.append(len(target["boxes"]))
    assert sum(counts) >= 2 * len(ds)  # mosaic + mixup: more instances than one image has
