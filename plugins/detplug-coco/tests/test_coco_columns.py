"""The fast column reader of COCO files gives what the entry-by-entry reader gives, and
hands it every file that is not plainly well formed (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest
from detplug_coco import coco_columns
from detplug_coco.coco_columns import read_coco_columns
from detplug_coco.coco_json import parse_coco

from detplug_core.errors import DataError


def _data(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    images = [
        {"id": int(i), "file_name": f"{i}.jpg", "height": 40, "width": 60}
        for i in rng.permutation(50) + 3
    ]
    images[4].pop("height")  # unknown size: 0, read from the file later
    anns = []
    for k in range(300):
        x, y, w, h = rng.uniform(0, 50, 4).round(1).tolist()
        anns.append(
            {
                "id": k + 1,
                "image_id": images[int(rng.integers(0, 50))]["id"],
                "category_id": int(rng.choice([1, 5, 9])),
                "bbox": [x, y, w, int(h)],
                "iscrowd": int(rng.random() < 0.2),
            }
        )
    anns[7].pop("iscrowd")
    cats = [{"id": 9, "name": "c"}, {"id": 1, "name": "a"}, {"id": 5, "name": "b"}]
    return {"images": images, "annotations": anns, "categories": cats}


def _grouped(columns) -> list:
    order = np.argsort(columns.ann_image, kind="stable")
    return [
        columns.ann_image[order].tolist(),
        columns.boxes[order].tolist(),
        columns.cat_ids[order].tolist(),
        columns.crowd[order].tolist(),
        columns.ann_pos[order].tolist(),  # where each annotation is in the file (masks)
        columns.image_ids.tolist(),
        columns.file_names,
        columns.heights.tolist(),
        columns.widths.tolist(),
        columns.unknown_category,
    ]


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_and_entry_by_entry_readers_agree(seed, monkeypatch):
    data = _data(seed)
    fast = read_coco_columns(data, "f.json", "error")
    slow = coco_columns._from_parsed(parse_coco(data, "f.json", "error"))
    assert _grouped(fast) == _grouped(slow)
    data["annotations"][3]["category_id"] = 77  # skipped: the fast reader lists it too
    fast = read_coco_columns(data, "f.json", "skip")
    slow = coco_columns._from_parsed(parse_coco(data, "f.json", "skip"))
    assert fast.unknown_category == [("annotations[3] (id 4)", 77)]
    assert _grouped(fast) == _grouped(slow)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["images"][2].update(id=True), r"images\[2\] needs an integer 'id'"),
        (lambda d: d["annotations"][5].update(bbox=[1, 2, True, 4]), r"annotations\[5\] \(id 6\)"),
        (lambda d: d["annotations"][5].update(bbox=["1", 2, 3, 4]), "4 finite numbers"),
        (lambda d: d["annotations"][9].update(image_id=999), "image_id 999 is not in 'images'"),
        (lambda d: d["annotations"][9].update(category_id=2), "category_id 2 is not in"),
    ],
)
def test_anything_odd_gets_the_entry_by_entry_message(change, message):
    data = _data(0)
    change(data)
    with pytest.raises(DataError, match=message):
        read_coco_columns(data, "f.json", "error")


def test_integral_floats_are_accepted_as_the_entry_reader_accepts_them():
    data = _data(0)
    data["images"][0]["id"] = float(data["images"][0]["id"])
    for ann in data["annotations"]:
        if ann["image_id"] == int(data["images"][0]["id"]):
            ann["image_id"] = float(ann["image_id"])
    assert coco_columns._fast(data, "f.json", "error") is None  # the careful path
    columns = read_coco_columns(data, "f.json", "error")
    assert _grouped(columns) == _grouped(read_coco_columns(_data(0), "f.json", "error"))
