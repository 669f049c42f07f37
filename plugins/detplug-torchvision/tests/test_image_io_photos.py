"""Real photo collections: EXIF orientation, truncated files, ``on_bad_image`` (issue 14)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from detplug_coco.dataset import CocoDataset
from detplug_torchvision.datasets import read_image, read_image_size
from detplug_torchvision.datasets.errors import SampleError
from PIL import Image

from detplug_core.errors import DataError

# a stored (sensor-frame) image, 7 rows x 12 columns; odd sizes show any transpose mix-up
STORED = np.zeros((7, 12, 3), dtype=np.uint8)
STORED[0, :, 0] = 255  # the first stored row is red


def _jpeg(path, orientation: int | None = None, array=STORED) -> None:
    im = Image.fromarray(array)
    if orientation is None:
        im.save(path, quality=95)
        return
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_exif_orientation_6_is_applied_and_can_be_turned_off(tmp_path, suffix):
    path = tmp_path / f"phone{suffix}"
    im = Image.fromarray(STORED)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(path, exif=exif.tobytes(), quality=95)
    shown = read_image(str(path))
    assert tuple(shown.shape) == (3, 12, 7)
    assert read_image_size(str(path)) == (12, 7)
    # rotated clockwise: the first stored row (red) becomes the last column
    assert shown[0, :, -1].float().mean() > 120 and shown[0, :, 0].float().mean() < 60
    stored = read_image(str(path), exif_orientation=False)
    assert tuple(stored.shape) == (3, 7, 12)
    assert read_image_size(str(path), exif_orientation=False) == (7, 12)


def test_exif_orientation_through_pillow_formats(tmp_path):
    path = tmp_path / "phone.tiff"  # decoded by Pillow, not torchvision
    im = Image.fromarray(STORED)
    exif = im.getexif()
    exif[0x0112] = 8
    im.save(path, exif=exif.tobytes())
    assert tuple(read_image(str(path)).shape) == (3, 12, 7)
    assert read_image_size(str(path)) == (12, 7)  # (Pillow applies a TIFF's tag itself)


def test_a_truncated_jpeg_is_a_clear_error(tmp_path):
    good = tmp_path / "good.jpg"
    rng = np.random.default_rng(0)
    _jpeg(good, array=rng.integers(0, 256, (61, 83, 3), dtype=np.uint8))
    data = good.read_bytes()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SampleError, match=r"cannot decode image file '.*bad.jpg'.*truncated"):
        read_image(str(bad))


def _coco(tmp_path, names: list[str], sizes: dict[str, tuple[int, int]]):
    images = [
        {"id": i + 1, "file_name": n, "height": sizes[n][0], "width": sizes[n][1]}
        for i, n in enumerate(names)
    ]
    anns = [
        {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16}
        for i in range(len(names))
    ]
    ann = tmp_path / "ann.json"
    ann.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]})
    )
    return str(ann)


@pytest.fixture
def photos(tmp_path):
    """Three photos: one good, one phone photo (orientation 6, annotated as displayed),
    one truncated."""
    _jpeg(tmp_path / "good.jpg")
    _jpeg(tmp_path / "phone.jpg", orientation=6)
    rng = np.random.default_rng(1)
    _jpeg(tmp_path / "full.jpg", array=rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    sizes = {"good.jpg": (7, 12), "phone.jpg": (12, 7), "cut.jpg": (40, 52)}
    return tmp_path, _coco(tmp_path, list(sizes), sizes)


def test_bad_images_are_found_before_training(photos):
    root, ann = photos
    with pytest.raises(DataError) as info:
        CocoDataset(ann, str(root))
    message = str(info.value)
    assert "cut.jpg" in message and "truncated" in message and "on_bad_image: skip" in message
    assert "\n" not in message


def test_on_bad_image_skip_counts_them_in_the_summary(photos, caplog):
    root, ann = photos
    with caplog.at_level(logging.INFO, logger="detplug.data"):
        ds = CocoDataset(ann, str(root), on_bad_image="skip")
    assert [r.file_name for r in ds.records] == ["good.jpg", "phone.jpg"]
    assert "1 images skipped: cannot be decoded (first: " in caplog.text
    image, target = ds[1]  # the phone photo in its displayed frame, as annotated
    assert tuple(image.shape[-2:]) == (12, 7) and target["orig_size"] == (12, 7)


def test_without_the_scan_skip_uses_the_next_image_and_error_stops(photos):
    root, ann = photos
    ds = CocoDataset(ann, str(root), on_bad_image="skip", scan_images=False)
    image, target = ds[2]  # cut.jpg: replaced by the next image (index 0)
    assert target["file_name"] == "good.jpg"
    ds = CocoDataset(ann, str(root), scan_images=False)
    with pytest.raises(SampleError, match="cut.jpg"):
        ds[2]


def test_exif_orientation_off_reads_the_stored_frame(photos):
    root, ann = photos
    ds = CocoDataset(ann, str(root), on_bad_image="skip", exif_orientation=False)
    with pytest.raises(SampleError, match="is 12x7 but its annotations"):
        ds.load_raw(1)
    assert torch.is_tensor(ds[0][0])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillows_exif_transpose(tmp_path, orientation):
    from PIL import ImageOps

    array = np.random.default_rng(orientation).integers(0, 256, (5, 9, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    im = Image.fromarray(array)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes())
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    got = read_image(str(path)).permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)
    assert read_image_size(str(path)) == expected.shape[:2]
