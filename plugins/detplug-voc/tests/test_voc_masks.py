"""VOCDataset with ``with_masks: true``: instance masks from ``SegmentationObject`` palette
PNGs (pixel k = the k-th XML object, 255 the void band, excluded), checked against the PNG's
own pixels; missing PNGs, empty objects, wrong sizes and EXIF-rotated photos; BCCD's real
photos with PNGs written here; the mask recipe through ``--data`` on a tiny VOC folder."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from detplug_torchvision.testing.recipes import train_two_iterations
from detplug_voc.dataset import VOCDataset
from PIL import Image
from torchvision import tv_tensors
from voc_fixtures import palette_png, with_objects, xml

from detplug_core import TRANSFORMS
from detplug_core.config import load_config
from detplug_core.data.source import apply_data_source, find_data_source
from detplug_core.errors import DataError

BCCD = Path(
    os.environ.get("DETPLUG_BCCD", Path(__file__).resolve().parents[3].parent / "shared/data/BCCD")
)
MASK_RECIPE = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"
W, H = 40, 30


def voc_root(root: Path, images: dict[str, list], size=(W, H), pngs: dict | None = None) -> Path:
    """``images``: id -> [(class, (xmin, ymin, xmax, ymax) 1-based as VOC writes them)];
    ``pngs``: the ids that get a PNG (default all), each with its object indices [H, W] or
    None: each object's box filled, 255 around."""
    for key, objects in images.items():
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{key}.xml").write_text(xml(f"{key}.jpg", objects, size))
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (20, 30, 40)).save(root / "JPEGImages" / f"{key}.jpg")
        if pngs is not None and key not in pngs:
            continue
        boxes = [(a - 1, b - 1, c, d) for _, (a, b, c, d) in objects]
        given = (pngs or {}).get(key)
        indices = with_objects(np.zeros(size[::-1], np.uint8), boxes) if given is None else given
        palette_png(root / "SegmentationObject" / f"{key}.png", indices)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("".join(f"{k}\n" for k in images))
    return root


def png_of(root: Path, key: str) -> np.ndarray:
    return np.asarray(Image.open(root / "SegmentationObject" / f"{key}.png"))


def test_masks_are_the_png_pixels_of_each_object_without_the_void_band(tmp_path):
    root = voc_root(tmp_path, {"a": [("dog", (3, 4, 20, 25)), ("cat", (15, 2, 38, 12))]})
    ds = VOCDataset(str(root), split="train", classes=["cat", "dog"], with_masks=True)
    _, target = ds.load_raw(0)
    masks, png = target["masks"], png_of(root, "a")
    assert isinstance(masks, tv_tensors.Mask) and masks.shape == (2, H, W)
    assert (png == 255).any() and set(np.unique(png)) == {0, 1, 2, 255}
    for k in range(2):
        assert np.array_equal(masks[k].numpy(), (png == k + 1).astype(np.uint8))
    assert target["labels"].tolist() == [1, 0]
    assert not (masks.sum(0).numpy().astype(bool) & (png == 255)).any()  # void: no object's
    assert ds.report.dirty == set()


def test_skipped_objects_keep_the_xml_numbering(tmp_path):
    """The PNG numbers objects in XML order, counting those the dataset leaves out (an
    unknown class, a zero-area box), so the kept boxes get their own pixels."""
    objects = [("bird", (2, 2, 10, 10)), ("dog", (5, 5, 5, 9)), ("dog", (20, 5, 35, 25))]
    root = voc_root(tmp_path, {"a": objects})
    ds = VOCDataset(
        str(root), split="train", classes=["dog"], on_unknown_class="skip", with_masks=True
    )
    _, target = ds.load_raw(0)
    assert target["masks"].shape == (1, H, W)
    assert np.array_equal(target["masks"][0].numpy(), (png_of(root, "a") == 3).astype(np.uint8))


def test_an_object_without_pixels_is_dropped_and_counted(tmp_path):
    indices = with_objects(np.zeros((H, W), np.uint8), [(2, 3, 20, 25)])  # object 2 absent
    objects = [("dog", (3, 4, 20, 25)), ("cat", (15, 2, 38, 12))]
    root = voc_root(tmp_path, {"a": objects}, pngs={"a": indices})
    ds = VOCDataset(str(root), split="train", classes=["cat", "dog"], with_masks=True)
    assert ds.records[0].labels.tolist() == [1]
    reason = "objects without a pixel in their SegmentationObject PNG dropped"
    assert ds.report[reason] == 1 and "object 1 of" in ds.report.counts[reason].first
    assert reason in ds.report.dirty
    assert len(VOCDataset(str(root), split="train", classes=["cat", "dog"]).records[0].boxes) == 2


def test_an_image_without_a_png_is_an_error_or_left_out(tmp_path):
    images = {"a": [("dog", (3, 4, 20, 25))], "b": [("cat", (2, 2, 9, 9))]}
    root = voc_root(tmp_path, images, pngs={"a": None})
    with pytest.raises(DataError, match=r"SegmentationObject/b\.png' does not exist.*"
                       r"ImageSets/Segmentation.*on_missing_mask: skip"):  # fmt: skip
        VOCDataset(str(root), split="train", classes=["cat", "dog"], with_masks=True)
    ds = VOCDataset(
        str(root), split="train", classes=["cat", "dog"], with_masks=True, on_missing_mask="skip"
    )
    assert [r.file_name for r in ds.records] == ["a.jpg"]
    assert ds.report["images without a SegmentationObject PNG left out (on_missing_mask: skip)"]
    assert ds.load_raw(0)[1]["masks"].shape == (1, H, W)


def test_a_png_of_another_size_or_of_colours_is_refused_by_name(tmp_path):
    root = voc_root(tmp_path, {"a": [("dog", (3, 4, 20, 25))]}, pngs={"a": np.zeros((H, W - 1))})
    with pytest.raises(DataError, match=r"a\.png' is 39x30 but the image and its annotations"):
        VOCDataset(str(root), split="train", classes=["dog"], with_masks=True)
    Image.new("RGB", (W, H)).save(root / "SegmentationObject" / "a.png")
    with pytest.raises(DataError, match=r"a\.png' .* is a RGB image; it must hold one object"):
        VOCDataset(str(root), split="train", classes=["dog"], with_masks=True)


def rotated_photo(root: Path, png: np.ndarray) -> None:
    """A 40x30 JPEG stored with EXIF orientation 6 (displayed 30x40, rotated clockwise), a
    bright block in its stored top-left corner, the XML in the displayed frame."""
    stored = np.full((H, W, 3), 20, np.uint8)
    stored[0:10, 0:16] = 250
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(root / "JPEGImages" / "a.jpg", exif=exif.tobytes(), quality=95)
    palette_png(root / "SegmentationObject" / "a.png", png)


def test_an_exif_rotated_photo_takes_its_png_in_the_displayed_frame(tmp_path):
    # displayed, the stored top-left block is at the top right: x 20..30, y 0..16
    root = voc_root(tmp_path, {"a": [("dog", (21, 1, 30, 16))]}, size=(H, W), pngs={})
    displayed = np.zeros((W, H), np.uint8)
    displayed[0:16, 20:30] = 1
    rotated_photo(root, displayed)
    ds = VOCDataset(str(root), split="train", classes=["dog"], with_masks=True)
    image, target = ds.load_raw(0)
    assert image.shape == (3, W, H)
    inside = target["masks"][0].bool()
    assert inside.sum() == 160 and image[0][inside].float().mean() > 200  # on the block
    # the same PNG drawn on the stored frame: refused, saying why
    rotated_photo(root, np.zeros((H, W), np.uint8))
    with pytest.raises(DataError, match=r"a\.png' is 40x30 but .* 30x40; its sides are the "
                       r"image's swapped: .*EXIF rotation\? exif_orientation: false"):  # fmt: skip
        VOCDataset(str(root), split="train", classes=["dog"], with_masks=True)


def test_transforms_move_the_masks_with_the_image(tmp_path):
    root = voc_root(tmp_path, {"a": [("dog", (3, 4, 20, 25))]})
    flip = TRANSFORMS.build({"type": "torchvision.RandomHorizontalFlip", "p": 1.0})
    ds = VOCDataset(str(root), split="train", classes=["dog"], with_masks=True, transforms=flip)
    _, target = ds[0]
    expected = (png_of(root, "a") == 1)[:, ::-1].astype(np.uint8)
    assert np.array_equal(target["masks"][0].numpy(), expected)


@pytest.mark.skipif(not BCCD.is_dir(), reason=f"BCCD not found at {BCCD}")
def test_bccd_photos_with_object_pngs(tmp_path):
    """Two real BCCD photos and their real XML files (copied), with a SegmentationObject
    PNG written here: an ellipse in each box, later objects on top; BCCD itself has none."""
    with pytest.raises(DataError, match=r"SegmentationObject/BloodImage_\d+\.png' does not"):
        VOCDataset(str(BCCD), split="test", classes=["RBC", "WBC", "Platelets"], with_masks=True)
    keys = ["BloodImage_00000", "BloodImage_00001"]
    for sub in ("Annotations", "JPEGImages", "SegmentationObject", "ImageSets/Main"):
        (tmp_path / sub).mkdir(parents=True)
    expected = {}
    for key in keys:
        shutil.copy(BCCD / "Annotations" / f"{key}.xml", tmp_path / "Annotations")
        shutil.copy(BCCD / "JPEGImages" / f"{key}.jpg", tmp_path / "JPEGImages")
        root = ET.parse(tmp_path / "Annotations" / f"{key}.xml").getroot()
        width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
        ys, xs = np.mgrid[0:height, 0:width] + 0.5
        indices = np.zeros((height, width), np.uint8)
        for k, obj in enumerate(root.iter("object"), start=1):
            x1, y1, x2, y2 = (float(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax"))  # fmt: skip
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            inside = ((xs - cx) / max(rx, 1)) ** 2 + ((ys - cy) / max(ry, 1)) ** 2 <= 1
            indices[inside] = k
        expected[key] = indices
        palette_png(tmp_path / "SegmentationObject" / f"{key}.png", indices)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("\n".join(keys))
    ds = VOCDataset(
        str(tmp_path), split="train", classes=["RBC", "WBC", "Platelets"], with_masks=True
    )
    for i, key in enumerate(keys):
        image, target = ds.load_raw(i)
        masks = target["masks"]
        assert image.shape[-2:] == masks.shape[-2:] == expected[key].shape
        for k, obj in enumerate(ds.records[i].ann_index.tolist()):
            assert torch.equal(masks[k], torch.from_numpy(expected[key] == obj + 1).to(torch.uint8))
        assert len(masks) == len(target["boxes"]) >= 5


def test_the_mask_recipe_keeps_with_masks_through_data(tmp_path):
    root = voc_root(tmp_path / "voc", {"a": [("dog", (3, 4, 20, 25))]})
    cfg = load_config(MASK_RECIPE)
    apply_data_source(cfg, find_data_source(str(root)))
    train = cfg["train_dataloader"]["dataset"]
    assert train["type"] == "voc.VOCDataset" and train["with_masks"] is True


@pytest.mark.slow
def test_detplug_train_mask_rcnn_on_a_voc_folder_with_object_pngs(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for i in range(6):
        x, y = int(rng.integers(1, 16)), int(rng.integers(1, 10))
        images[f"im{i}"] = [("cat" if i % 2 else "dog", (x, y, x + 20, y + 16))]
    root = voc_root(tmp_path / "voc", images, size=(64, 48))
    (root / "ImageSets" / "Main" / "train.txt").write_text("im0\nim1\nim2\nim3\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("im4\nim5\n")
    train, metrics = train_two_iterations(MASK_RECIPE, root, tmp_path / "work")
    assert len(train) == 2 and all(s["loss_mask"] > 0 for s in train), train
    assert "coco/segm_mAP" in metrics and "coco/mAP" in metrics, metrics  # val masks too
