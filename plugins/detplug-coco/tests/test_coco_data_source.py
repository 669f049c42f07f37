"""``--data`` for COCO JSON: recognising the file, finding its images, the val sibling."""

from __future__ import annotations

import json

import pytest
from detplug_coco.source import detplug_data_source
from PIL import Image

from detplug_core.errors import DataError


def coco_file(path, file_name="a.jpg"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": file_name, "width": 8, "height": 6}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 3, 3]}],
        "categories": [{"id": 7, "name": "zebra"}, {"id": 2, "name": "ant"}],
    }))  # fmt: skip
    return path


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6)).save(path)


def test_coco_layout_with_train_and_val(tmp_path):
    train = coco_file(tmp_path / "annotations" / "instances_train2017.json")
    coco_file(tmp_path / "annotations" / "instances_val2017.json", "b.jpg")
    image(tmp_path / "train2017" / "a.jpg")
    image(tmp_path / "val2017" / "b.jpg")
    found = detplug_data_source(path=str(train), image_dir=None)
    assert found["format"] == "coco"
    assert found["classes"] == ["ant", "zebra"]  # by category id, as CocoDataset labels them
    assert found["splits"]["train"]["img_dir"] == str(tmp_path / "train2017")
    assert found["splits"]["val"]["img_dir"] == str(tmp_path / "val2017")
    assert found["splits"]["val"]["ann_file"].endswith("instances_val2017.json")


def test_images_beside_the_json_or_given(tmp_path):
    ann = coco_file(tmp_path / "labels.json")
    image(tmp_path / "images" / "a.jpg")
    found = detplug_data_source(path=str(ann), image_dir=None)
    assert found["splits"]["train"]["img_dir"] == str(tmp_path / "images")
    assert "val" not in found["splits"]
    found = detplug_data_source(path=str(ann), image_dir=str(tmp_path / "elsewhere"))
    assert found["splits"]["train"]["img_dir"] == str(tmp_path / "elsewhere")


def test_images_not_found_names_the_places_searched(tmp_path):
    ann = coco_file(tmp_path / "labels.json", "missing.jpg")
    with pytest.raises(DataError, match=r"cannot find the folder of its images .*--data-images"):
        detplug_data_source(path=str(ann), image_dir=None)


def test_other_json_is_not_claimed(tmp_path):
    (tmp_path / "x.json").write_text('{"model": {}}')
    assert detplug_data_source(path=str(tmp_path / "x.json"), image_dir=None) is None
