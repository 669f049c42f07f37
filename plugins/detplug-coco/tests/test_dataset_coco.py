"""CocoDataset: label mapping, crowd -> ignore, target format, options, and dirty data
(each problem has a defined behaviour and a clear message)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from detplug_coco.dataset import CocoDataset
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import tv_tensors

import detplug_core
from detplug_core.errors import DataError


def write_coco(tmp_path, images, annotations, categories, sizes=None):
    """A COCO file plus a PNG (h x w, default 20 x 30) per image entry."""
    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    for img in images:
        h, w = (sizes or {}).get(img["id"], (img.get("height", 20), img.get("width", 30)))
        Image.new("RGB", (w, h), (img["id"] % 256, 0, 0)).save(img_dir / img["file_name"])
    ann_file = tmp_path / "ann.json"
    data = {"images": images, "annotations": annotations, "categories": categories}
    ann_file.write_text(json.dumps(data, indent=1))
    return str(ann_file), str(img_dir)


def img(i, h=20, w=30):
    return {"id": i, "file_name": f"{i}.png", "height": h, "width": w}


def ann(i, image_id, cat, bbox, crowd=0):
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": bbox, "iscrowd": crowd}


CATS = [{"id": 7, "name": "cat"}, {"id": 1, "name": "person"}, {"id": 3, "name": "dog"}]


@pytest.fixture
def coco(tmp_path):
    images = [img(10), img(11), img(12, 40, 20)]
    annotations = [
        ann(1, 10, 7, [1, 2, 5, 6]),
        ann(2, 10, 1, [0, 0, 30, 20], crowd=1),
        ann(3, 12, 3, [2.5, 3.5, 4, 5]),
    ]
    return write_coco(tmp_path, images, annotations, CATS)


def test_items_follow_the_data_contract(coco):
    ds = CocoDataset(*coco)
    assert len(ds) == 3
    assert ds.classes == ["person", "dog", "cat"]  # sorted by category id
    assert ds.label_to_cat_id == [1, 3, 7]
    assert ds.cat_id_to_label == {1: 0, 3: 1, 7: 2}
    image, target = ds[0]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.uint8
    assert image.shape == (3, 20, 30) and int(image[0, 0, 0]) == 10
    boxes = target["boxes"]
    assert isinstance(boxes, tv_tensors.BoundingBoxes) and boxes.dtype == torch.float32
    assert boxes.format == tv_tensors.BoundingBoxFormat.XYXY and boxes.canvas_size == (20, 30)
    assert boxes.tolist() == [[1, 2, 6, 8], [0, 0, 30, 20]]
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == [2, 0]
    assert target["ignore"].dtype == torch.bool and target["ignore"].tolist() == [False, True]
    assert target["image_id"] == 10 and target["orig_size"] == (20, 30)
    assert target["file_name"] == "10.png"
    _, empty = ds[1]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)
    assert ds[2][1]["boxes"].tolist() == [[2.5, 3.5, 6.5, 8.5]]
    assert ds.get_image_size(2) == (40, 20)


def test_classes_select_and_order_categories(coco, caplog):
    caplog.set_level(logging.INFO, "detplug.data")
    ds = CocoDataset(*coco, classes=["cat", "dog"])
    assert ds.classes == ["cat", "dog"] and ds.label_to_cat_id == [7, 3]
    assert ds[0][1]["labels"].tolist() == [0]  # the person crowd box is left out
    assert "1 annotations of categories not in classes left out" in caplog.text
    with pytest.raises(DataError, match=r"class 'horse' is not a category; categories: 'cat'"):
        CocoDataset(*coco, classes=["horse"])


def test_filter_empty_leaves_out_images_without_usable_boxes(coco):
    ds = CocoDataset(*coco, filter_empty=True)
    assert [ds[i][1]["image_id"] for i in range(len(ds))] == [10, 12]
    only_crowd = CocoDataset(*coco, filter_empty=True, classes=["person"])
    assert len(only_crowd) == 0  # image 10 holds only a crowd region of 'person'


def test_transforms_from_configs_and_callables(coco):
    ds = CocoDataset(
        *coco,
        transforms=[
            {"type": "ResizeShortLong", "short": 40, "long": 100},
            {"type": "RandomHorizontalFlip", "p": 1.0},
            {"type": "ToFloatImage"},
        ],
    )
    image, target = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, 40, 60)
    assert target["boxes"].tolist() == [[48, 4, 58, 16], [0, 0, 60, 40]]
    assert target["orig_size"] == (20, 30)
    flipped = CocoDataset(*coco, transforms=lambda im, t: (im.flip(-1), t))
    assert int(flipped[0][0][0, 0, 0]) == 10


def test_registered_and_built_from_config_with_data_root(coco, tmp_path):
    ds = detplug_core.DATASETS.build(
        {"type": "coco.CocoDataset", "data_root": str(tmp_path), "ann_file": "ann.json",
         "img_dir": "images"}
    )  # fmt: skip
    assert isinstance(ds, CocoDataset) and len(ds) == 3


def test_missing_width_height_are_read_from_the_file(tmp_path):
    entry = {"id": 1, "file_name": "1.png"}
    ann_file, img_dir = write_coco(tmp_path, [entry], [ann(1, 1, 1, [0, 0, 4, 4])],
                                   [{"id": 1, "name": "a"}], sizes={1: (9, 13)})  # fmt: skip
    ds = CocoDataset(ann_file, img_dir)
    assert ds.get_image_size(0) == (9, 13) and ds[0][0].shape == (3, 9, 13)


def test_pickles_for_dataloader_workers(coco):
    import pickle

    ds = pickle.loads(pickle.dumps(CocoDataset(*coco)))
    assert np.allclose(ds[0][1]["boxes"].numpy(), [[1, 2, 6, 8], [0, 0, 30, 20]])


# -- dirty data ------------------------------------------------------------------------

AB = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def summary_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "detplug.data"]


def test_missing_image_is_an_error_or_skipped_with_a_count(tmp_path, caplog):
    ann_file, img_dir = write_coco(tmp_path, [img(1), img(2), img(3)], [], AB)
    (tmp_path / "images" / "2.png").unlink()
    (tmp_path / "images" / "3.png").unlink()
    with pytest.raises(DataError, match=r"image file '.*2\.png' does not exist \(image_id 2"):
        CocoDataset(ann_file, img_dir)
    caplog.set_level(logging.INFO, "detplug.data")
    ds = CocoDataset(ann_file, img_dir, on_missing_image="skip")
    assert len(ds) == 1
    (line,) = summary_lines(caplog)
    assert "2 images skipped: file missing (first: " in line and "2.png" in line
    assert caplog.records[-1].levelno == logging.WARNING


def test_boxes_are_clipped_then_dropped_if_empty_with_one_summary_line(tmp_path, caplog):
    annotations = [
        ann(1, 1, 1, [5, 5, 0, 0]),  # zero area
        ann(2, 1, 1, [-4, -4, 10, 10]),  # partly outside: clipped
        ann(3, 1, 2, [40, 40, 5, 5]),  # wholly outside: empty after clipping
        ann(4, 1, 2, [25, 2, 20, 4]),  # right part outside: clipped
        ann(5, 1, 1, [3, 3, -2, 4]),  # negative width
        ann(6, 2, 1, [1, 1, 2, 2]),
    ]
    ann_file, img_dir = write_coco(tmp_path, [img(1), img(2)], annotations, AB)
    caplog.set_level(logging.INFO, "detplug.data")
    ds = CocoDataset(ann_file, img_dir)
    target = ds[0][1]
    assert target["boxes"].tolist() == [[0, 0, 6, 6], [25, 2, 30, 6]]
    assert target["labels"].tolist() == [0, 1]
    assert ds.report["boxes clipped to the image"] == 2
    assert ds.report["empty boxes dropped (zero area or outside the image)"] == 3
    (line,) = summary_lines(caplog)
    assert line.startswith("CocoDataset(") and "2 images, 3 boxes" in line
    assert "3 empty boxes dropped" in line and "2 boxes clipped" in line


def test_unknown_category_is_an_error_or_skipped(tmp_path, caplog):
    annotations = [ann(1, 1, 1, [0, 0, 4, 4]), ann(2, 1, 99, [0, 0, 4, 4])]
    ann_file, img_dir = write_coco(tmp_path, [img(1)], annotations, AB)
    with pytest.raises(DataError, match=r"annotations\[1\] \(id 2\): category_id 99 is not in"):
        CocoDataset(ann_file, img_dir)
    caplog.set_level(logging.INFO, "detplug.data")
    ds = CocoDataset(ann_file, img_dir, on_unknown_class="skip")
    assert ds[0][1]["labels"].tolist() == [0]
    assert "1 annotations of unknown category ids skipped" in summary_lines(caplog)[0]


def test_malformed_json_names_file_line_and_column(tmp_path):
    ann_file, img_dir = write_coco(tmp_path, [img(1)], [], AB)
    text = (tmp_path / "ann.json").read_text()
    (tmp_path / "ann.json").write_text(text.replace('"images": [', '"images": [,', 1))
    with pytest.raises(DataError, match=r"ann\.json:2:\d+: malformed JSON: Expecting value"):
        CocoDataset(ann_file, img_dir)
    with pytest.raises(DataError, match=r"annotation file '.*nope\.json' does not exist"):
        CocoDataset(str(tmp_path / "nope.json"), img_dir)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a COCO file is a JSON object"),
        ({"images": {}, "categories": []}, "'images' must be a list"),
        ({"images": [{"id": 1}], "categories": []}, r"images\[0\] needs an integer 'id' and a"),
        ({"images": [img(1), img(1)], "categories": []}, "duplicate image id 1"),
        ({"images": [], "categories": [{"id": 1}]}, r"categories\[0\] needs an integer 'id'"),
        ({"images": [img(1)], "categories": AB, "annotations": [ann(1, 5, 1, [0, 0, 1, 1])]},
         r"annotations\[0\] \(id 1\): image_id 5 is not in 'images'"),
        ({"images": [img(1)], "categories": AB, "annotations": [ann(9, 1, 1, [0, 0, 1])]},
         r"annotations\[0\] \(id 9\): 'bbox' must be 4 finite numbers"),
        ({"images": [img(1)], "categories": AB,
          "annotations": [ann(9, 1, 1, [0, 0, float("nan"), 1])]}, "4 finite numbers"),
    ],
)  # fmt: skip
def test_malformed_structure_names_the_entry(tmp_path, data, message):
    (tmp_path / "ann.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        CocoDataset(str(tmp_path / "ann.json"), str(tmp_path))


def test_no_annotations_key_gives_empty_images(tmp_path):
    write_coco(tmp_path, [img(1)], [], AB)
    (tmp_path / "ann.json").write_text(json.dumps({"images": [img(1)], "categories": AB}))
    ds = CocoDataset(str(tmp_path / "ann.json"), str(tmp_path / "images"))
    assert len(ds) == 1 and ds[0][1]["boxes"].shape == (0, 4)


def test_odd_image_modes_become_rgb_uint8(tmp_path):
    images = [img(1), img(2), img(3), img(4)]
    ann_file, img_dir = write_coco(tmp_path, images, [], AB)
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    folder = tmp_path / "images"
    Image.fromarray(rgb).convert("L").save(folder / "1.png")
    Image.fromarray(rgb).convert("RGBA").save(folder / "2.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "3.png")
    # a CMYK JPEG behind a .png name: decoders go by content, not by extension
    Image.fromarray(rgb).convert("CMYK").save(folder / "4.png", format="JPEG")
    ds = CocoDataset(ann_file, img_dir)
    for i in range(4):
        image = ds[i][0]
        assert image.dtype == torch.uint8 and image.shape == (3, 20, 30)


def test_image_size_differing_from_annotations_is_an_error(tmp_path):
    ann_file, img_dir = write_coco(tmp_path, [img(1)], [], AB, sizes={1: (21, 30)})
    with pytest.raises(DataError, match=r"is 30x21 but its annotations .* say 30x20"):
        CocoDataset(ann_file, img_dir)[0]


def _collate(batch):
    return batch


def test_corrupt_image_error_names_file_and_sample_through_a_worker(tmp_path):
    ann_file, img_dir = write_coco(tmp_path, [img(1), img(2)], [], AB)
    (tmp_path / "images" / "2.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"cannot decode image file '.*2\.png'.*on_bad_image"):
        CocoDataset(ann_file, img_dir)  # found by the scan before training
    ds = CocoDataset(ann_file, img_dir, scan_images=False)  # ... or when it is reached
    with pytest.raises(DataError, match=r"cannot decode image file '.*2\.png' \(CocoDataset\[1\]"):
        ds[1]
    loader = DataLoader(ds, batch_size=1, num_workers=1, collate_fn=_collate)
    with pytest.raises(DataError) as info:
        list(loader)
    message = str(info.value)  # one line, not a worker traceback
    assert message.startswith("cannot decode image file '") and "\n" not in message
    assert "(CocoDataset[1], image_id 2, 2.png)" in message
    assert message.endswith("(in DataLoader worker process 0)")
