"""``--data`` on VOC folders as people have them (issue 26 wall 5, issue 24 item 5): the
annotation folder given with the images in a sibling folder of any name, ``ImageSets/Main``
with only ``trainval.txt``, a malformed first XML, and errors that name the fix that works."""

from __future__ import annotations

import pytest
from detplug_voc.dataset import VOCDataset
from voc_fixtures import flat_folder

from detplug_core.data.source import find_data_source
from detplug_core.errors import DataError
from detplug_core.registry import DATASETS


def build(split_cfg):
    return DATASETS.build(split_cfg)


def test_annotation_folder_given_with_images_in_a_sibling(tmp_path):
    root = flat_folder(tmp_path / "cells", n=10, ann="annots", img="images")
    source = find_data_source(str(root / "annots"))
    train = source.splits["train"]
    assert train["img_dir"] == "../images" and train["ann_dir"] == "."
    assert len(build(train)) == 8 and len(build(source.splits["val"])) == 2
    # and the root given: the images folder of any name is found by the first XML's image
    root2 = flat_folder(tmp_path / "more", n=4, ann="labels_xml", img="photos")
    assert find_data_source(str(root2)).splits["train"]["img_dir"] == "photos"


def test_no_folder_with_the_images_names_the_option_that_works(tmp_path):
    root = flat_folder(tmp_path / "cells", n=3, ann="annots", img="images")
    for f in (root / "images").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"no folder holds the image of .*--data-images DIR"):
        find_data_source(str(root / "annots"))


def test_every_image_missing_does_not_advise_skipping_them(tmp_path):
    root = flat_folder(tmp_path / "cells", n=3, ann="annots", img="images")
    with pytest.raises(DataError) as err:
        VOCDataset(data_root=str(root), split="trainval", ann_dir="annots", img_dir="JPEGImages",
                   classes=["cat", "dog"])  # fmt: skip
    text = str(err.value)
    assert "none of the 3 images" in text and "set img_dir" in text
    assert "on_missing_image" not in text


def test_imagesets_with_only_trainval_is_split_by_seed(tmp_path):
    root = flat_folder(tmp_path / "voc", n=10, ann="Annotations", img="JPEGImages")
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "trainval.txt").write_text("".join(f"im{i:02d}\n" for i in range(9)))  # not im09
    source = find_data_source(str(root))
    train, val = build(source.splits["train"]), build(source.splits["val"])
    assert len(train) == 7 and len(val) == 2
    ids = {r.file_name for r in train.records} | {r.file_name for r in val.records}
    assert ids == {f"im{i:02d}.jpg" for i in range(9)}
    assert train.auto_splits and train.auto_splits[0]["split"] == "train"


def test_a_malformed_first_xml_is_named(tmp_path):
    root = flat_folder(tmp_path / "voc", n=3, ann="Annotations", img="JPEGImages")
    for f in (root / "Annotations").iterdir():
        f.write_text("<annotation><filename>x.jpg</filename>")  # every file cut short
    with pytest.raises(DataError, match=r"im00\.xml: malformed XML at line 1"):
        find_data_source(str(root))


def test_the_annotations_folder_of_a_canonical_root(tmp_path):
    root = flat_folder(tmp_path / "VOC2007", n=4, ann="Annotations", img="JPEGImages")
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "trainval.txt").write_text("im00\nim01\nim02\n")
    (main / "test.txt").write_text("im03\n")
    source = find_data_source(str(root / "Annotations"))
    assert source.splits["train"]["data_root"] == str(root)
    assert source.splits["train"]["split"] == "trainval"
    assert len(build(source.splits["val"])) == 1
