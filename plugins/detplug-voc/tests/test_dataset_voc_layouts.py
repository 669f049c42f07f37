"""VOC as people have it: no ImageSets (a seeded split), other folder names, image files in
any suffix case, a <filename> that disagrees with the file; and ``--data`` detection."""

from __future__ import annotations

import logging

import pytest
from detplug_voc.dataset import VOCDataset
from detplug_voc.source import detplug_data_source
from voc_fixtures import flat_folder, xml

from detplug_core.errors import DataError


def test_no_imagesets_splits_by_seeded_ratio(tmp_path):
    root = flat_folder(tmp_path / "voc")
    args = dict(data_root=str(root), ann_dir="xml", img_dir="pics", classes=["cat", "dog"])
    train = VOCDataset(split="train", **args)
    val = VOCDataset(split="val", **args)
    names = lambda ds: [r.file_name for r in ds.records]  # noqa: E731
    assert len(train) == 8 and len(val) == 2
    assert not set(names(train)) & set(names(val))
    assert len(VOCDataset(split="trainval", **args)) == 10
    assert names(VOCDataset(split="train", **args)) == names(train)  # deterministic
    other = VOCDataset(split="train", split_seed=1, **args)
    assert names(other) != names(train)
    assert len(VOCDataset(split="train", split_ratio=0.5, **args)) == 5
    assert train.auto_splits[0]["ids"] == [n[:-4] for n in names(train)]
    assert train.auto_splits[0]["seed"] == 0 and train.auto_splits[0]["ratio"] == 0.8


def test_no_imagesets_and_an_unknown_split_name_is_an_error(tmp_path):
    root = flat_folder(tmp_path / "voc", n=3)
    with pytest.raises(DataError, match="no ImageSets/Main split files, so split must be one of"):
        VOCDataset(
            data_root=str(root), split="test", ann_dir="xml", img_dir="pics", classes=["cat", "dog"]
        )


def test_all_files_in_one_folder(tmp_path):
    root = tmp_path / "flat"
    flat_folder(root, n=4, ann=".", img=".")
    ds = VOCDataset(
        data_root=str(root), split="trainval", ann_dir=".", img_dir=".", classes=["cat", "dog"]
    )
    assert len(ds) == 4 and ds.records[0].boxes.tolist() == [[1.0, 2.0, 12.0, 15.0]]


def test_image_suffix_in_any_case_and_a_disagreeing_filename(tmp_path, caplog):
    root = flat_folder(tmp_path / "voc", n=3, suffix=".JPG")
    (root / "pics" / "im01.JPG").rename(root / "pics" / "im01.jpeg")
    # the XML names a file that does not exist; its own name is what pairs it with the image
    (root / "xml" / "im02.xml").write_text(xml("IMG_4711.png", [("dog", (2, 3, 12, 15))]))
    with caplog.at_level(logging.INFO, "detplug.data"):
        ds = VOCDataset(
            data_root=str(root),
            split="trainval",
            ann_dir="xml",
            img_dir="pics",
            classes=["cat", "dog"],
        )
    assert [r.file_name for r in ds.records] == ["im00.JPG", "im01.jpeg", "im02.JPG"]
    assert ds.report["XML <filename> differs from the image file used"] == 3
    assert "<filename> IMG_4711.png, used im02.JPG" not in caplog.text  # first example only
    assert "<filename> im00.jpg, used im00.JPG" in caplog.text
    assert ds[2][0].shape == (3, 20, 30)


def test_filename_in_the_xml_is_the_fallback(tmp_path):
    root = flat_folder(tmp_path / "voc", n=1)
    (root / "pics" / "im00.jpg").rename(root / "pics" / "photo.jpg")
    (root / "xml" / "im00.xml").write_text(xml("photo.jpg", [("dog", (2, 3, 12, 15))]))
    ds = VOCDataset(
        data_root=str(root), split="trainval", ann_dir="xml", img_dir="pics", classes=["dog"]
    )
    assert ds.records[0].file_name == "photo.jpg"


def test_data_source_recognises_variant_and_canonical_folders(tmp_path):
    root = flat_folder(tmp_path / "voc", n=5)
    found = detplug_data_source(path=str(root), image_dir=None)
    assert found["format"] == "voc" and found["classes"] == ["cat", "dog"]
    assert found["splits"]["train"]["ann_dir"] == "xml"
    assert found["splits"]["train"]["img_dir"] == "pics"
    assert found["splits"]["val"]["split"] == "val"
    canon = tmp_path / "canon"
    flat_folder(canon, n=4, ann="Annotations", img="JPEGImages")
    (canon / "ImageSets" / "Main").mkdir(parents=True)
    (canon / "ImageSets" / "Main" / "trainval.txt").write_text("im00\nim01\nim02\n")
    (canon / "ImageSets" / "Main" / "test.txt").write_text("im03\n")
    found = detplug_data_source(path=str(canon), image_dir=None)
    assert found["splits"]["train"]["split"] == "trainval"
    assert found["splits"]["val"]["split"] == "test"
    assert detplug_data_source(path=str(tmp_path / "voc" / "pics"), image_dir=None) is None
