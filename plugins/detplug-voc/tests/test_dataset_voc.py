"""VOCDataset on small hand-made VOC trees: coordinates, difficult, classes, dirty data."""

from __future__ import annotations

import logging

import pytest
import torch
from detplug_voc.dataset import VOC_CLASSES, VOCDataset
from PIL import Image

import detplug_core
from detplug_core.errors import BuildError, DataError


def obj(name, box, difficult=0):
    xmin, ymin, xmax, ymax = box
    return (
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
        f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        "</bndbox></object>"
    )


def make_voc(root, items, split="trainval", size=(20, 30), write_size=True):
    """``items``: {image_key: [object xml, ...]}; writes XMLs, JPEGs and the split file."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    h, w = size
    for key, objects in items.items():
        size_xml = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
        xml = (
            f"<annotation><folder>VOC</folder><filename>{key}.jpg</filename>"
            f"{size_xml if write_size else ''}{''.join(objects)}</annotation>"
        )
        (root / "Annotations" / f"{key}.xml").write_text(xml)
        Image.new("RGB", (w, h), (90, 20, 20)).save(root / "JPEGImages" / f"{key}.jpg")
    (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(items) + "\n")
    return str(root)


def test_one_based_coordinates_difficult_and_default_classes(tmp_path):
    root = make_voc(tmp_path, {"a": [obj("dog", (1, 1, 30, 20)), obj("cat", (5, 6, 10, 12), 1)]})
    ds = VOCDataset(root)
    assert ds.classes == list(VOC_CLASSES) and len(VOC_CLASSES) == 20
    image, target = ds[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 20, 30)
    assert target["boxes"].tolist() == [[0, 0, 30, 20], [4, 5, 10, 12]]
    assert target["labels"].tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("cat")]
    assert target["ignore"].tolist() == [False, True]
    assert target["image_id"] == 0 and target["file_name"] == "a.jpg"
    assert target["orig_size"] == (20, 30) and ds.get_image_size(0) == (20, 30)


def test_several_roots_and_splits_concatenate(tmp_path):
    r07 = make_voc(tmp_path / "VOC2007", {"000001": [obj("a", (1, 1, 5, 5))]})
    r12 = make_voc(tmp_path / "VOC2012", {"2008_1": [], "2008_2": [obj("b", (2, 2, 6, 6))]},
                   split="train")  # fmt: skip
    ds = detplug_core.DATASETS.build(
        {"type": "VOCDataset", "data_roots": [r07, r12], "split": ["trainval", "train"],
         "classes": ["a", "b"]}
    )  # fmt: skip
    assert len(ds) == 3
    assert [ds[i][1]["image_id"] for i in range(3)] == [0, 1, 2]
    assert [ds[i][1]["labels"].tolist() for i in range(3)] == [[0], [], [1]]
    assert len(VOCDataset(r12, split="train", classes=["a", "b"], filter_empty=True)) == 1
    with pytest.raises(BuildError, match="exactly one of data_root and data_roots"):
        VOCDataset(r07, data_roots=[r07])
    with pytest.raises(BuildError, match="2 splits for 1 roots"):
        VOCDataset(r07, split=["a", "b"])


def test_unknown_class_is_an_error_naming_file_and_class_or_skipped(tmp_path, caplog):
    root = make_voc(tmp_path, {"a": [obj("dog", (1, 1, 5, 5)), obj("unicorn", (2, 2, 8, 8))]})
    with pytest.raises(DataError, match=r"a\.xml: object 1 has unknown class 'unicorn'"):
        VOCDataset(root)
    caplog.set_level(logging.INFO, "detplug.data")
    ds = VOCDataset(root, on_unknown_class="skip")
    assert len(ds[0][1]["boxes"]) == 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "detplug.data"]
    assert "1 objects of unknown classes skipped (first: " in line and "(unicorn)" in line


def test_zero_area_and_outside_boxes(tmp_path, caplog):
    objects = [
        obj("a", (5, 5, 5, 5)),  # zero area in the file
        obj("a", (9, 3, 8, 7)),  # inverted
        obj("a", (25, 15, 40, 30)),  # partly outside a 30x20 image: clipped
        obj("a", (50, 50, 60, 60)),  # outside: empty after clipping
        obj("a", (2, 2, 4, 4)),
    ]
    root = make_voc(tmp_path, {"a": objects})
    caplog.set_level(logging.INFO, "detplug.data")
    ds = VOCDataset(root, classes=["a"])
    assert ds[0][1]["boxes"].tolist() == [[24, 14, 30, 20], [1, 1, 4, 4]]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "detplug.data"]
    assert "2 zero-area boxes dropped" in line and "1 boxes clipped" in line
    assert "1 empty boxes dropped (zero area or outside the image)" in line


def test_malformed_xml_names_file_and_position(tmp_path):
    root = make_voc(tmp_path, {"a": [], "b": []})
    (tmp_path / "Annotations" / "b.xml").write_text("<annotation>\n  <object>\n</annotation>")
    with pytest.raises(DataError, match=r"b\.xml: malformed XML at line 3, column 2: mismatched"):
        VOCDataset(root)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<root/>", "root element is <root>, expected <annotation>"),
        ("<annotation><object><bndbox/></object></annotation>", "object 0: missing <name>"),
        (f"<annotation>{obj('a', (1, 'x', 3, 4))}</annotation>",
         r"object 0 \(a\): <bndbox> needs numeric xmin, ymin, xmax, ymax; got \['1', 'x'"),
    ],
)  # fmt: skip
def test_malformed_annotation_content(tmp_path, xml, message):
    root = make_voc(tmp_path, {"a": []})
    (tmp_path / "Annotations" / "a.xml").write_text(xml)
    with pytest.raises(DataError, match=message):
        VOCDataset(root, classes=["a"])


def test_missing_files(tmp_path, caplog):
    root = make_voc(tmp_path, {"a": [], "b": []})
    with pytest.raises(DataError, match=r"split file '.*test\.txt' does not exist"):
        VOCDataset(root, split="test")
    (tmp_path / "JPEGImages" / "b.jpg").unlink()
    with pytest.raises(DataError, match=r"image file '.*b\.jpg' does not exist .*b\.xml"):
        VOCDataset(root)
    caplog.set_level(logging.INFO, "detplug.data")
    assert len(VOCDataset(root, on_missing_image="skip")) == 1
    assert "1 images skipped: file missing" in caplog.text
    (tmp_path / "Annotations" / "a.xml").unlink()
    with pytest.raises(DataError, match=r"annotation file '.*a\.xml' does not exist"):
        VOCDataset(root)


def test_size_missing_from_xml_and_image_named_by_filename(tmp_path):
    root = make_voc(tmp_path, {"a": [obj("a", (1, 1, 3, 3))]}, size=(11, 17), write_size=False)
    ds = VOCDataset(root, classes=["a"])
    assert ds.get_image_size(0) == (11, 17)
    (tmp_path / "JPEGImages" / "a.jpg").rename(tmp_path / "JPEGImages" / "other.png")
    xml = (tmp_path / "Annotations" / "a.xml").read_text()
    (tmp_path / "Annotations" / "a.xml").write_text(xml.replace("a.jpg", "other.png"))
    assert VOCDataset(root, classes=["a"])[0][1]["file_name"] == "other.png"
