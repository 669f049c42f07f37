"""YoloDataset on data sets built by each test: layout, pairing and every documented quirk."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from detplug_yolo_format.dataset import YoloDataset
from yolo_fixtures import (
    NAMES,
    simple_dataset,
    write_data_yaml,
    write_image,
    write_labels,
    yolo_row,
)

from detplug_core.errors import DataError


def one_image(tmp_path, rows, name="a.jpg", width=64, height=48):
    write_image(tmp_path / "images" / "train" / name, width, height)
    write_labels(tmp_path / "labels" / "train" / (name.rsplit(".", 1)[0] + ".txt"), rows)
    return write_data_yaml(tmp_path, train="images/train")


def test_boxes_are_normalised_rows_in_pixels(tmp_path):
    data = one_image(tmp_path, ["1 0.5 0.25 0.5 0.25", "0 0.1 0.1 0.1 0.1"])
    ds = YoloDataset(str(data))
    assert ds.classes == NAMES
    image, target = ds[0]
    assert image.shape == (3, 48, 64)
    expected = torch.tensor([[16.0, 6.0, 48.0, 18.0], [3.2, 2.4, 9.6, 7.2]])
    torch.testing.assert_close(target["boxes"].as_subclass(torch.Tensor), expected)
    assert target["labels"].tolist() == [1, 0]
    assert target["file_name"] == "images/train/a.jpg"


def test_names_as_mapping_and_list_file_and_list_of_entries(tmp_path):
    simple_dataset(tmp_path)
    (tmp_path / "train.txt").write_text("./images/train/train0.jpg\nimages/train/train1.jpg\n")
    data = tmp_path / "data.yaml"
    data.write_text(
        "path: .\ntrain: [train.txt, images/val]\nval: images/val\nnames: {0: circle, 1: square}\n"
    )
    ds = YoloDataset(str(data), split="train")
    assert ds.classes == ["circle", "square"]
    assert [r.file_name for r in ds.records] == [
        "images/train/train0.jpg", "images/train/train1.jpg",
        "images/val/val0.jpg", "images/val/val1.jpg", "images/val/val2.jpg",
    ]  # fmt: skip


def test_nc_disagreeing_with_names_is_an_error(tmp_path):
    data = tmp_path / "data.yaml"
    data.write_text("train: images\nnc: 3\nnames: [a, b]\n")
    with pytest.raises(DataError, match="nc is 3 but 'names' lists 2 classes"):
        YoloDataset(str(data))


def test_image_without_label_file_is_background(tmp_path, caplog):
    simple_dataset(tmp_path, n_train=2)
    write_image(tmp_path / "images" / "train" / "bg.jpg")
    with caplog.at_level(logging.INFO, "detplug.data"):
        ds = YoloDataset(str(tmp_path / "data.yaml"))
    assert len(ds) == 3
    assert ds.report["images without a label file (background)"] == 1
    assert "1 images without a label file (background)" in caplog.text
    bg = [r for r in ds.records if r.file_name.endswith("bg.jpg")][0]
    assert bg.boxes.shape == (0, 4)
    assert len(YoloDataset(str(tmp_path / "data.yaml"), filter_empty=True)) == 2


def test_empty_label_file_is_background(tmp_path):
    data = one_image(tmp_path, [])
    ds = YoloDataset(str(data))
    assert len(ds) == 1 and ds.records[0].boxes.shape == (0, 4)
    assert ds.report["empty label files (background)"] == 1


def test_label_file_without_image_is_counted(tmp_path, caplog):
    simple_dataset(tmp_path, n_train=2)
    write_labels(tmp_path / "labels" / "train" / "ghost.txt", ["0 0.5 0.5 0.2 0.2"])
    with caplog.at_level(logging.WARNING, "detplug.data"):
        ds = YoloDataset(str(tmp_path / "data.yaml"))
    assert ds.report["label files without an image"] == 1
    assert "ghost.txt" in caplog.text


def test_zero_size_out_of_range_and_repeated_boxes(tmp_path, caplog):
    rows = [
        "0 0.5 0.5 0 0.2",  # zero width: dropped
        "1 0.95 0.5 0.2 0.2",  # sticks out on the right: clipped
        "0 1.5 1.5 0.1 0.1",  # wholly outside: dropped
        "1 0.95 0.5 0.2 0.2",  # the same row again: dropped
    ]
    data = one_image(tmp_path, rows)
    with caplog.at_level(logging.WARNING, "detplug.data"):
        ds = YoloDataset(str(data))
    rec = ds.records[0]
    np.testing.assert_allclose(rec.boxes, [[54.4, 19.2, 64.0, 28.8]], rtol=1e-5)
    assert ds.report["zero-size boxes dropped"] == 1
    assert ds.report["boxes clipped to the image"] == 1
    assert ds.report["empty boxes dropped (zero area or outside the image)"] == 1
    assert ds.report["repeated rows dropped"] == 1
    assert "a.txt:1" in caplog.text  # the zero-size example names file and line


def test_rounding_of_the_decimals_is_not_clipping(tmp_path):
    data = one_image(tmp_path, ["0 0.90000001 0.5 0.2000001 0.2", "1 0.09999999 0.5 0.2000001 0.2"])
    ds = YoloDataset(str(data))
    assert ds.report["boxes clipped to the image"] == 0
    assert ds.records[0].boxes[0, 2] == 64.0 and ds.records[0].boxes[1, 0] == 0.0


def test_class_id_outside_names_names_file_and_line(tmp_path):
    data = one_image(tmp_path, ["0 0.5 0.5 0.2 0.2", "", "5 0.5 0.5 0.2 0.2"])
    with pytest.raises(DataError, match=r"a\.txt:3: class id 5 is not in names \(ids 0\.\.1"):
        YoloDataset(str(data))


@pytest.mark.parametrize(
    "row, message",
    [("0 0.5 0.5 0.2", "got 4 values"), ("0 0.5 x 0.2 0.2", "non-numeric"),
     ("0.5 0.5 0.5 0.2 0.2", "class id 0.5"), ("-1 0.5 0.5 0.2 0.2", "class id -1")],
)  # fmt: skip
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    data = one_image(tmp_path, [row])
    with pytest.raises(DataError, match=rf"a\.txt:1: .*{message}"):
        YoloDataset(str(data))


def test_polygon_rows_become_boxes(tmp_path):
    data = one_image(tmp_path, ["1 0.25 0.25 0.75 0.25 0.5 0.75"])
    ds = YoloDataset(str(data))
    np.testing.assert_allclose(ds.records[0].boxes, [[16.0, 12.0, 48.0, 36.0]], rtol=1e-6)
    assert ds.report["polygon rows turned into boxes"] == 1


def test_mixed_suffixes_and_nested_folders(tmp_path):
    for name, sub in (("a.JPG", "x"), ("b.jpeg", "x/y"), ("c.png", ""), ("d.Png", "z")):
        image = tmp_path / "images" / "train" / sub / name
        write_image(image, boxes=[(4, 4, 20, 20)])
        label = tmp_path / "labels" / "train" / sub / (name.rsplit(".", 1)[0] + ".txt")
        write_labels(label, [yolo_row(0, (4, 4, 20, 20), 64, 48)])
    (tmp_path / "images" / "train" / "notes.txt").write_text("not an image")
    ds = YoloDataset(str(write_data_yaml(tmp_path, train="images/train")))
    assert sorted(r.file_name for r in ds.records) == [
        "images/train/c.png", "images/train/x/a.JPG", "images/train/x/y/b.jpeg",
        "images/train/z/d.Png",
    ]  # fmt: skip
    assert all(len(r.boxes) == 1 for r in ds.records)
    assert ds.report["images without a label file (background)"] == 0
    for i in range(len(ds)):
        assert ds[i][0].shape == (3, 48, 64)


def test_missing_image_in_a_list_file(tmp_path):
    simple_dataset(tmp_path, n_train=1)
    (tmp_path / "list.txt").write_text("images/train/train0.jpg\nimages/train/nope.jpg\n")
    data = write_data_yaml(tmp_path, train="list.txt")
    with pytest.raises(DataError, match="nope.jpg' does not exist"):
        YoloDataset(str(data))
    ds = YoloDataset(str(data), on_missing_image="skip")
    assert len(ds) == 1 and ds.report["images skipped: file missing"] == 1


def test_unknown_split_names_the_defined_ones(tmp_path):
    data = simple_dataset(tmp_path)
    with pytest.raises(DataError, match="no split 'test' .*defines: train, val"):
        YoloDataset(str(data), split="test")


def test_coco_metric_evaluates_a_yolo_dataset(tmp_path):
    from detplug_coco.metric import CocoMetric

    ds = YoloDataset(str(simple_dataset(tmp_path)), split="val")
    metric = CocoMetric(classes=ds.classes)
    for i in range(len(ds)):
        _, target = ds.load_raw(i)
        boxes = target["boxes"].as_subclass(torch.Tensor)
        pred = {"boxes": boxes, "scores": torch.ones(len(boxes)), "labels": target["labels"]}
        metric.update([pred], [target])
    assert metric.compute()["mAP"] == pytest.approx(1.0)
