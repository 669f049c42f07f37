"""data.yaml files as the labelling tools write them (issue 26, wall 1): Roboflow's
``../train/images``, a ``path:`` from another machine, ``nc`` without ``names``, and a YOLO
folder without a data.yaml."""

from __future__ import annotations

import logging

import pytest
from detplug_yolo_format.dataset import YoloDataset
from yolo_fixtures import write_image, write_labels, yolo_row

from detplug_core.data.source import find_data_source
from detplug_core.errors import DataError


def roboflow_export(root, splits=("train", "valid", "test"), extra=""):
    """Roboflow's YOLO export: ``<split>/images``, ``<split>/labels``, and a data.yaml whose
    paths start with ``../`` (relative to a folder inside the export)."""
    for k, split in enumerate(splits):
        for i in range(2):
            write_image(root / split / "images" / f"{split}{i}.jpg", boxes=[(4, 4, 30, 20)], seed=i)
            row = yolo_row((i + k) % 2, (4, 4, 30, 20), 64, 48)
            write_labels(root / split / "labels" / f"{split}{i}.txt", [row])
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
        f"nc: 2\nnames: ['cat', 'dog']\n{extra}"
        "roboflow:\n  workspace: w\n  project: p\n  version: 1\n"
    )
    return root / "data.yaml"


def test_roboflow_data_yaml_with_dotdot_paths(tmp_path):
    data = roboflow_export(tmp_path / "pets")
    source = find_data_source(str(data))
    assert source.format == "yolo" and source.classes == ["cat", "dog"]
    assert set(source.splits) == {"train", "val", "test"}
    ds = YoloDataset(str(data), split="val")
    assert [r.file_name for r in ds.records] == [
        "valid/images/valid0.jpg",
        "valid/images/valid1.jpg",
    ]
    assert ds.records[0].labels.tolist() == [1]
    # the export's folder works as well as its data.yaml
    assert find_data_source(str(tmp_path / "pets")).splits == source.splits


def test_a_split_the_export_left_out_is_dropped_with_a_warning(tmp_path, caplog):
    data = roboflow_export(tmp_path / "pets", splits=("train", "valid"))
    with caplog.at_level(logging.WARNING, "detplug.data"):
        source = find_data_source(str(data))
    assert set(source.splits) == {"train", "val"}
    assert "test: '../test/images' is not there" in caplog.text


def test_a_missing_train_folder_names_the_places_tried(tmp_path):
    data = roboflow_export(tmp_path / "pets", splits=("valid",))
    with pytest.raises(DataError, match=r"train: '\.\./train/images' is not there \(tried"):
        find_data_source(str(data))


def test_path_key_from_another_machine_falls_back_to_the_files_folder(tmp_path):
    data = roboflow_export(tmp_path / "pets", extra="path: /content/datasets/pets\n")
    ds = YoloDataset(str(data), split="train")
    assert len(ds) == 2 and ds.records[0].file_name == "train/images/train0.jpg"


def test_nc_without_names_is_a_clear_error(tmp_path):
    (tmp_path / "train").mkdir()
    data = tmp_path / "data.yaml"
    data.write_text("train: train\nval: train\nnc: 7\n")
    with pytest.raises(DataError, match=r"nc is 7 but 'names' is missing.*add names: \["):
        find_data_source(str(data))


def test_a_yolo_folder_without_data_yaml_says_what_is_missing(tmp_path):
    root = tmp_path / "coco128"  # as Ultralytics ships it: the names are in another file
    write_image(root / "images" / "train2017" / "a.jpg")
    write_labels(root / "labels" / "train2017" / "a.txt", ["0 0.5 0.5 0.2 0.2"])
    with pytest.raises(DataError) as err:
        find_data_source(str(root))
    text = str(err.value)
    assert "no data.yaml" in text and "class names" in text and "images/train2017" in text
    assert f"write {root / 'data.yaml'}" in text
