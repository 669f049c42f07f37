"""Transforms: the v2 bridge and the detection transforms (ResizeShortLong, ToFloatImage,
SanitizeBoxes, DropIgnored) on (image, target) samples."""

from __future__ import annotations

import pickle

import pytest
import torch
from detplug_torchvision.transforms.bridge import (
    CLASSIFICATION_ONLY,
    DETECTION_REPLACEMENTS,
    parse_dtype,
    v2_transform_names,
)
from detplug_torchvision.transforms.resize import short_long_size
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from torchvision import tv_tensors
from torchvision.transforms import v2

import detplug_core
from detplug_core.errors import BuildError

TRANSFORMS = detplug_core.TRANSFORMS


def sample(h: int = 40, w: int = 60, boxes=None, labels=None, ignore=None):
    """A uint8 image whose column index is its pixel value, and a target."""
    image = tv_tensors.Image(torch.arange(w, dtype=torch.uint8).expand(3, h, w).clone())
    boxes = [[0, 0, 10, 20], [30, 10, 60, 40]] if boxes is None else boxes
    n = len(boxes)
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            format="XYXY",
            canvas_size=(h, w),
        ),
        "labels": torch.arange(n, dtype=torch.int64) if labels is None else torch.tensor(labels),
        "ignore": torch.zeros(n, dtype=torch.bool) if ignore is None else torch.tensor(ignore),
        "image_id": 7,
        "orig_size": (h, w),
        "file_name": "x.jpg",
    }
    return image, target


def build(cfg: dict):
    return TRANSFORMS.build(cfg)


def test_every_v2_transform_is_registered_by_name():
    names = v2_transform_names()
    assert {"RandomHorizontalFlip", "Resize", "ColorJitter", "RandomIoUCrop"} <= set(names)
    for name in names:
        entry = TRANSFORMS.get_entry(name)
        assert entry.scope == "torchvision" and entry.plugin == "detplug_torchvision"
        if name in DETECTION_REPLACEMENTS:  # MixUp: the detection one (docs/augmentation.md)
            assert not issubclass(entry.obj, getattr(v2, name))
            continue
        assert issubclass(entry.obj, getattr(v2, name))
        assert entry.obj.__name__ == name


def test_classification_only_mixing_is_refused_at_build_with_the_alternatives():
    assert "CutMix" in CLASSIFICATION_ONLY and "CutMix" in v2_transform_names()
    with pytest.raises(BuildError, match=r"CutMix: .*refuses boxes.*MixUp or Mosaic"):
        build({"type": "CutMix", "num_classes": 3})


def test_flip_by_config_moves_boxes_and_keeps_target_fields():
    flip = build({"type": "RandomHorizontalFlip", "p": 1.0})
    image, target = sample()
    out_image, out = flip(image, target)
    assert isinstance(out["boxes"], tv_tensors.BoundingBoxes)
    assert out["boxes"].tolist() == [[50, 0, 60, 20], [0, 10, 30, 40]]
    assert out_image[0, 0, 0] == 59  # the last column came first
    assert out["labels"].tolist() == [0, 1]
    assert (out["image_id"], out["orig_size"], out["file_name"]) == (7, (40, 60), "x.jpg")


def test_scoped_name_and_yaml_friendly_arguments():
    jitter = build({"type": "torchvision.ColorJitter", "brightness": 0.2})
    assert isinstance(jitter, v2.ColorJitter)
    to_float = build({"type": "ToDtype", "dtype": "float32", "scale": True})
    image, _ = to_float(*sample())
    assert image.dtype == torch.float32 and float(image.max()) <= 1.0
    per_type = build({"type": "ToDtype", "dtype": {"Image": "torch.float16", "others": None}})
    assert per_type(*sample())[0].dtype == torch.float16
    assert parse_dtype("uint8") is torch.uint8
    with pytest.raises(BuildError, match="unknown dtype 'floaty'"):
        parse_dtype("floaty")


def test_containers_build_nested_configs():
    pipeline = build(
        {
            "type": "Compose",
            "transforms": [
                {"type": "RandomApply", "transforms": [{"type": "RandomHorizontalFlip", "p": 1}],
                 "p": 1.0},
                {"type": "RandomChoice", "transforms": [{"type": "Identity"}]},
                {"type": "RandomOrder", "transforms": [{"type": "ToFloatImage"}]},
            ],
        }
    )  # fmt: skip
    image, target = pipeline(*sample())
    assert image.dtype == torch.float32
    assert target["boxes"].tolist()[0] == [50, 0, 60, 20]


def test_unknown_argument_names_the_transform():
    with pytest.raises(BuildError, match="did you mean 'p'"):
        build({"type": "RandomHorizontalFlip", "pp": 0.5})


def test_resize_short_long_keeps_ratio_and_caps_long_side():
    resize = build({"type": "ResizeShortLong", "short": 80, "long": 100})
    image, target = resize(*sample(40, 60))
    assert image.shape[-2:] == (66, 100)  # 80 would make it 120 > 100; floored as torchvision
    assert target["boxes"].canvas_size == (66, 100)
    assert target["boxes"][1].tolist() == pytest.approx([50, 16.5, 100, 66], abs=0.01)
    image, _ = build({"type": "ResizeShortLong", "short": 80, "long": None})(*sample(40, 60))
    assert image.shape[-2:] == (80, 120)


def test_resize_short_long_picks_a_short_side_per_sample():
    resize = build({"type": "ResizeShortLong", "short": [20, 30, 40], "long": 1000})
    torch.manual_seed(0)
    sizes = {resize(*sample(40, 60))[0].shape[-2] for _ in range(40)}
    assert sizes == {20, 30, 40}


@pytest.mark.parametrize("bad", [{"short": 0}, {"short": []}, {"long": -1}, {"short": 1.5}])
def test_resize_short_long_rejects_bad_sizes(bad):
    with pytest.raises(BuildError, match="ResizeShortLong"):
        build({"type": "ResizeShortLong", **bad})


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 4000), w=st.integers(1, 4000), short=st.integers(1, 1500),
    long=st.none() | st.integers(1, 3000),
)  # fmt: skip
def test_short_long_size_property(h, w, short, long):
    nh, nw = short_long_size(h, w, short, long)
    small, large = min(nh, nw), max(nh, nw)
    assert small <= short and (long is None or large <= long)
    # one side hits its target, or one pixel below it: torchvision floors side * scale
    assert short - small <= 1 or (long is not None and long - large <= 1)
    ratio = max(h, w) / min(h, w)
    assert abs(large - ratio * small) <= ratio + 1  # aspect kept up to rounding


def test_to_float_image_returns_plain_float_tensor():
    image, target = build({"type": "ToFloatImage"})(*sample())
    assert type(image) is torch.Tensor and image.dtype == torch.float32
    assert float(image[0, 0, 59]) == pytest.approx(59 / 255)
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    assert target["boxes"].dtype == torch.float32
    to_float = build({"type": "ToFloatImage"})
    deep = tv_tensors.Image(torch.full((3, 2, 2), 65535, dtype=torch.uint16))
    assert to_float(deep).max() == 1.0
    pil = PILImage.new("RGB", (4, 3), (255, 0, 0))
    out = to_float(pil)
    assert out.shape == (3, 3, 4) and out[0].min() == 1.0 and out[1].max() == 0.0


def test_sanitize_boxes_clips_drops_and_keeps_fields_aligned():
    boxes = [[-5, -5, 10, 10], [5, 5, 5.5, 30], [50, 30, 80, 50], [70, 45, 90, 60], [1, 1, 9, 9]]
    image, target = sample(40, 60, boxes, labels=[0, 1, 2, 3, 4], ignore=[0, 1, 0, 0, 1])
    target["ignore"] = target["ignore"].bool()
    _, out = build({"type": "SanitizeBoxes"})(image, target)
    assert out["boxes"].tolist() == [[0, 0, 10, 10], [50, 30, 60, 40], [1, 1, 9, 9]]
    assert out["labels"].tolist() == [0, 2, 4]
    assert out["ignore"].tolist() == [False, False, True]
    assert isinstance(out["boxes"], tv_tensors.BoundingBoxes)
    _, big = build({"type": "SanitizeBoxes", "min_size": 9})(image, target)
    assert big["labels"].tolist() == [0, 2]


def test_sanitize_boxes_after_a_crop_in_a_pipeline_and_pickles():
    pipeline = v2.Compose(
        [build({"type": "RandomCrop", "size": [20, 20]}), build({"type": "SanitizeBoxes"})]
    )
    torch.manual_seed(1)
    for _ in range(10):
        _, out = pipeline(*sample())
        boxes = out["boxes"]
        assert len(boxes) == len(out["labels"]) == len(out["ignore"])
        assert (boxes[:, 2:] - boxes[:, :2] >= 1).all() and boxes.max() <= 20
    copy = pickle.loads(pickle.dumps(pipeline))  # DataLoader workers may need to pickle it
    assert type(copy.transforms[0]) is type(pipeline.transforms[0])


def test_drop_ignored():
    image, target = sample(ignore=[True, False])
    _, out = build({"type": "DropIgnored"})(image, target)
    assert out["boxes"].tolist() == [[30, 10, 60, 40]]
    assert out["labels"].tolist() == [1] and out["ignore"].tolist() == [False]
    assert isinstance(out["boxes"], tv_tensors.BoundingBoxes)
    _, same = build({"type": "DropIgnored"})(*sample())
    assert len(same["boxes"]) == 2


def test_box_transforms_need_a_target_with_boxes():
    with pytest.raises(TypeError, match=r"SanitizeBoxes expects \(image, target\)"):
        build({"type": "SanitizeBoxes"})(torch.zeros(3, 2, 2))


def test_train_pipeline_through_core_build_transforms():
    from detplug_core.data import build_transforms

    pipeline = build_transforms(
        [
            {"type": "ResizeShortLong", "short": [30, 40], "long": 100},
            {"type": "RandomHorizontalFlip", "p": 0.5},
            {"type": "SanitizeBoxes"},
            {"type": "DropIgnored"},
            {"type": "ToFloatImage"},
        ]
    )
    image, target = pipeline(*sample(ignore=[False, True]))
    assert type(image) is torch.Tensor and image.dtype == torch.float32
    assert image.shape[-2] in (30, 40) and target["boxes"].canvas_size == tuple(image.shape[-2:])
    assert target["labels"].tolist() == [0]
