"""Instance masks (``tv_tensors.Mask``) through the single-image transforms: every
geometric one moves them exactly as the image (checked against the pixels that paint
them, mask_samples.py), the box-dropping ones drop them with their boxes, the fills pad
them with 0, and the ones that cannot carry them refuse by name (docs/augmentation.md)."""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
from detplug_torchvision.datasets import SampleError
from mask_samples import assert_masks_follow_pixels, mask_sample
from torchvision import tv_tensors
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.transforms import v2

from detplug_core import TRANSFORMS
from detplug_core.errors import BuildError

# four instances 3+ px apart: rectangles and an L (not symmetric: a wrong flip shows)
SHAPES = [[4, 4, 20, 16], ("L", 26, 6, 44, 24), [50, 30, 62, 46], [6, 28, 22, 44]]
NEAREST = {"interpolation": "nearest"}


def sample():
    return mask_sample(48, 64, SHAPES)


def run(cfgs: list[dict], seed: int):
    torch.manual_seed(seed)
    pipeline = v2.Compose([TRANSFORMS.build(cfg) for cfg in cfgs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RandomErasing's pass-through notice
        return pipeline(*sample())


# (pipeline, band, tight): band 0 = the masks equal the painted pixels exactly (the image
# resampled nearest, as masks are); tight = each mask spans its box (no cut, no rotation)
EXACT = {
    "hflip": ([{"type": "RandomHorizontalFlip", "p": 1.0}], 0, True),
    "vflip": ([{"type": "RandomVerticalFlip", "p": 1.0}], 0, True),
    "Pad": ([{"type": "Pad", "padding": [3, 5, 7, 2], "fill": 114}], 0, True),
    "PadTo": ([{"type": "PadTo", "size": [56, 80], "fill": 114}], 0, True),
    "ZoomOut": ([{"type": "RandomZoomOut", "fill": 114, "side_range": [1, 2], "p": 1}], 0, True),
    "RandomCrop+pad": (
        [{"type": "RandomCrop", "size": [56, 40], "pad_if_needed": True, "fill": 114}],
        0,
        False,
    ),
    "CropUpTo+Sanitize": (
        [{"type": "RandomCropUpTo", "size": [30, 40]}, {"type": "SanitizeBoxes"}],
        0,
        False,
    ),
    "CenterCrop": ([{"type": "CenterCrop", "size": 40}], 0, False),
    "IoUCrop+Sanitize": (
        [{"type": "RandomIoUCrop"}, {"type": "SanitizeBoxes"}],
        0,
        False,
    ),
    "ResizedCrop": ([{"type": "RandomResizedCrop", "size": [40, 40], **NEAREST}], 0, False),
    "ShortLong": (
        [{"type": "ResizeShortLong", "short": 72, "long": 200, "antialias": False, **NEAREST}],
        0,
        True,
    ),
    "RandomScale": (
        [{"type": "RandomScale", "scale": 80, "ratio_range": [0.6, 1.4], **NEAREST}],
        0,
        True,
    ),
    "Resize": ([{"type": "Resize", "size": [30, 40], **NEAREST}], 0, True),
    "ScaleJitter": (
        [{"type": "ScaleJitter", "target_size": [48, 64], "scale_range": [0.5, 1.5], **NEAREST}],
        0,
        True,
    ),
    "ShortestSize": ([{"type": "RandomShortestSize", "min_size": [32, 64], **NEAREST}], 0, True),
    "RandomResize": ([{"type": "RandomResize", "min_size": 32, "max_size": 80, **NEAREST}], 0, True),
    "Affine": (
        [{"type": "RandomAffine", "degrees": 25, "translate": [0.1, 0.1], "scale": [0.8, 1.2],
          "shear": 10, "fill": 114, **NEAREST}],
        0,
        False,
    ),
    "Rotation": ([{"type": "RandomRotation", "degrees": 40, "fill": 114, **NEAREST}], 0, False),
    "Perspective": ([{"type": "RandomPerspective", "p": 1.0, "fill": 114, **NEAREST}], 0, False),
    "Elastic": ([{"type": "ElasticTransform", "alpha": 20.0, "fill": 114, **NEAREST}], 0, False),
    # the default (bilinear, antialiased) image: the masks agree but for the edges
    "ShortLong bilinear up": ([{"type": "ResizeShortLong", "short": 72, "long": 200}], 1, True),
    "ShortLong bilinear down": ([{"type": "ResizeShortLong", "short": 36, "long": 200}], 2, True),
    "Affine bilinear": ([{"type": "RandomAffine", "degrees": 20, "fill": 114}], 1, False),
    "RandomScale bilinear": (
        [{"type": "RandomScale", "scale": 64, "ratio_range": [0.7, 1.5]}], 2, True
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(EXACT))
@pytest.mark.parametrize("seed", range(3))
def test_geometric_transforms_move_the_masks_with_their_pixels(name, seed):
    cfgs, band, tight = EXACT[name]
    image, target = run(cfgs, seed)
    ious = assert_masks_follow_pixels(
        image, target, band=band, box_tol=1.0 if band < 2 else 1.5, tight=tight
    )
    if band == 0:  # nearest both: the same pixels
        assert all(iou == 1.0 for iou in ious.values()), ious
    if name in ("hflip", "vflip", "Pad", "PadTo", "ZoomOut", "ShortLong", "Resize"):
        assert target["labels"].tolist() == [0, 1, 2, 3]  # nothing lost on the way


TO_FLOAT = {"type": "ToDtype", "dtype": "float32", "scale": True}
PHOTOMETRIC = [
    {"type": "ColorJitter", "brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.1},
    {"type": "RandomPhotometricDistort", "p": 1.0},
    {"type": "GaussianBlur", "kernel_size": 5},
    {"type": "Grayscale", "num_output_channels": 3},
    {"type": "RandomGrayscale", "p": 1.0},
    {"type": "RandomInvert", "p": 1.0},
    {"type": "RandomPosterize", "bits": 2, "p": 1.0},
    {"type": "RandomSolarize", "threshold": 100, "p": 1.0},
    {"type": "RandomEqualize", "p": 1.0},
    {"type": "RandomAutocontrast", "p": 1.0},
    {"type": "RandomAdjustSharpness", "sharpness_factor": 2.0, "p": 1.0},
    {"type": "RandomChannelPermutation"},
    {"type": "JPEG", "quality": 50},
    {"type": "RandomErasing", "p": 1.0},  # occludes: masks and boxes stay (torchvision's rule)
    TO_FLOAT,
    {"type": "ToFloatImage"},
    {"type": "GaussianNoise"},  # (after TO_FLOAT: float images only)
    {"type": "Normalize", "mean": [0.5] * 3, "std": [0.2] * 3},  # (ditto)
]


@pytest.mark.parametrize("cfg", PHOTOMETRIC, ids=lambda c: c["type"])
def test_pixel_only_transforms_leave_the_masks_as_they_are(cfg):
    _, before = sample()
    _, target = run(
        [cfg] if cfg["type"] not in ("GaussianNoise", "Normalize") else [TO_FLOAT, cfg], 0
    )
    assert isinstance(target["masks"], tv_tensors.Mask)
    assert torch.equal(target["masks"], before["masks"])
    assert torch.equal(target["boxes"], before["boxes"])


def test_flip_mirrors_the_masks():
    _, before = sample()
    _, target = run([{"type": "RandomHorizontalFlip", "p": 1.0}], 0)
    assert torch.equal(target["masks"], before["masks"].flip(-1))


@pytest.mark.parametrize("match", [True, False])
@pytest.mark.parametrize("height, width", [(48, 64), (37, 53), (90, 41)])
def test_resize_short_long_gives_generalized_rcnn_transforms_masks(height, width, match):
    """torchvision's GeneralizedRCNNTransform resizes Mask R-CNN's target masks (nearest,
    at its image size): ResizeShortLong gives the same masks (match_torchvision changes
    the image's resampling only)."""
    _, target = mask_sample(height, width, [[2, 3, 20, 30], ("L", 22, 4, 36, 34)])
    image = tv_tensors.Image(torch.randint(0, 256, (3, height, width), dtype=torch.uint8))
    resize = TRANSFORMS.build(
        {"type": "ResizeShortLong", "short": 72, "long": 120, "match_torchvision": match}
    )
    out_image, out = resize(image, target)
    reference = GeneralizedRCNNTransform(72, 120, [0.0] * 3, [1.0] * 3)
    plain = {"boxes": target["boxes"].as_subclass(torch.Tensor), "masks": target["masks"]}
    _, (ref,) = reference([image.as_subclass(torch.Tensor).float() / 255], [plain])
    assert out["masks"].shape[-2:] == out_image.shape[-2:]
    assert torch.equal(out["masks"].as_subclass(torch.Tensor), ref["masks"])
    assert torch.allclose(out["boxes"].as_subclass(torch.Tensor), ref["boxes"], atol=1e-4)


def test_sanitize_boxes_drops_masks_with_their_boxes_in_order():
    image, target = sample()
    boxes = target["boxes"].as_subclass(torch.Tensor).clone()
    boxes[1] = torch.tensor([26.0, 6.0, 26.5, 24.0])  # too thin: dropped
    boxes[3] = torch.tensor([-9.0, -9.0, -1.0, -1.0])  # outside: clipped to nothing
    target["boxes"] = tv_tensors.wrap(boxes, like=target["boxes"])
    _, out = TRANSFORMS.build({"type": "SanitizeBoxes"})(image, target)
    assert out["labels"].tolist() == [0, 2] and out["ignore"].tolist() == [False, True]
    assert isinstance(out["masks"], tv_tensors.Mask)
    assert torch.equal(out["masks"], target["masks"][[0, 2]])


def test_sanitize_boxes_drops_the_boxes_a_crop_left_without_mask_pixels():
    """The window x 33..64, y 0..17 holds a corner of the L's box (x 26..44, y 6..24) but
    none of the L (its bar x 26..32, its foot y 18..24) and nothing else."""
    image, target = sample()
    window = {"top": 0, "left": 33, "height": 17, "width": 31}
    image = v2.functional.crop(image, **window)
    target = dict(
        target, **{k: v2.functional.crop(target[k], **window) for k in ("boxes", "masks")}
    )
    _, out = TRANSFORMS.build({"type": "SanitizeBoxes"})(image, target)
    assert out["labels"].tolist() == [] and out["masks"].shape == (0, 17, 31)
    keep_empty = TRANSFORMS.build({"type": "SanitizeBoxes", "drop_empty_masks": False})
    _, kept = keep_empty(image, target)
    assert kept["labels"].tolist() == [1] and not kept["masks"].any()


def test_drop_ignored_drops_the_crowd_masks():
    image, target = sample()
    _, out = TRANSFORMS.build({"type": "DropIgnored"})(image, target)
    assert out["labels"].tolist() == [0, 1, 3]
    assert isinstance(out["masks"], tv_tensors.Mask)
    assert torch.equal(out["masks"], target["masks"][[0, 1, 3]])
    assert_masks_follow_pixels(image, out)


@pytest.mark.parametrize("name", ["SanitizeBoxes", "DropIgnored"])
def test_masks_that_do_not_match_the_boxes_are_refused_by_name(name):
    """torchvision's SanitizeBoundingBoxes would pass them through unchanged."""
    image, target = sample()
    target["masks"] = tv_tensors.Mask(target["masks"][:3])
    with pytest.raises(SampleError, match=rf"^{name}: target\['masks'\] has shape \[3, 48, 64\], "
                       r"expected \[4, 48, 64\] .*\(image_id 0, 0.png\)"):  # fmt: skip
        TRANSFORMS.build({"type": name})(image, target)
    image, target = sample()
    target["masks"] = tv_tensors.Mask(target["masks"][:, :40])
    with pytest.raises(SampleError, match=rf"^{name}: .* expected \[4, 48, 64\]"):
        TRANSFORMS.build({"type": name})(image, target)


def test_fill_pads_images_with_it_and_masks_with_0():
    pad = TRANSFORMS.build({"type": "Pad", "padding": 4, "fill": 114})
    image, target = pad(*sample())
    assert (image[:, :4] == 114).all() and (target["masks"][:, :4] == 0).all()
    assert_masks_follow_pixels(image, target)
    per_type = TRANSFORMS.build({"type": "Pad", "padding": 2, "fill": {"Image": 9, "Mask": 1}})
    image, target = per_type(*sample())
    assert (image[:, 0, 0] == 9).all() and (target["masks"][:, 0, 0] == 1).all()
    default = TRANSFORMS.build({"type": "RandomZoomOut", "p": 1.0, "fill": {"Image": 114}})
    assert (default(*sample())[1]["masks"].sum() == sample()[1]["masks"].sum()).all()
    copy = pickle.loads(pickle.dumps(pad))  # DataLoader workers may pickle the pipeline
    assert type(copy) is type(pad) and isinstance(copy, v2.Pad)
    with pytest.raises(BuildError, match="Pad: fill names an unknown tv_tensor type 'Img'"):
        TRANSFORMS.build({"type": "Pad", "padding": 2, "fill": {"Img": 3}})


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "FiveCrop", "size": 20},
        {"type": "TenCrop", "size": 20},
        {"type": "AutoAugment"},
        {"type": "RandAugment"},
        {"type": "TrivialAugmentWide"},
        {"type": "AugMix"},
    ],
    ids=lambda c: c["type"],
)
def test_transforms_that_cannot_carry_boxes_or_masks_refuse_them_by_name(cfg):
    """torchvision's own refusal (they refuse boxes too): a TypeError naming the transform."""
    with pytest.raises(TypeError, match=rf"not supported by {cfg['type']}\(\)"):
        run([cfg], 0)
