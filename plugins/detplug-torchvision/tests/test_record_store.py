"""Dataset records as columns (issue 25): the same records as before, no Python object per
record, pickled small for DataLoader workers."""

from __future__ import annotations

import gc
import json
import pickle

import numpy as np
import pytest
from detplug_coco.dataset import CocoDataset
from detplug_torchvision.datasets import ImageRecord, RecordStore
from detplug_torchvision.datasets.records import StringColumn
from PIL import Image


def _record(i: int, n: int) -> ImageRecord:
    rng = np.random.default_rng(i)
    return ImageRecord(
        path=f"/data/imgs/{i}-é.jpg",
        file_name=f"{i}-é.jpg",
        image_id=1000 + i,
        height=20 + i,
        width=30 + i,
        boxes=rng.uniform(0, 20, (n, 4)).astype(np.float32),
        labels=rng.integers(0, 5, n),
        ignore=rng.random(n) < 0.3,
        source=f"ann.json image_id {1000 + i}",
    )


def _same(a: ImageRecord, b: ImageRecord) -> bool:
    arrays = ("boxes", "labels", "ignore")
    plain = ("path", "file_name", "image_id", "height", "width", "source")
    return all(getattr(a, k) == getattr(b, k) for k in plain) and all(
        np.array_equal(getattr(a, k), getattr(b, k)) and getattr(a, k).dtype == getattr(b, k).dtype
        for k in arrays
    )


def test_records_round_trip_through_the_store():
    records = [_record(i, n) for i, n in enumerate([3, 0, 1, 5])]
    store = RecordStore.from_records(records)
    assert len(store) == 4
    assert all(_same(got, want) for got, want in zip(store, records, strict=True))
    assert _same(store[-1], records[-1]) and [r.image_id for r in store[1:3]] == [1001, 1002]
    with pytest.raises(IndexError):
        store[4]
    store[0].boxes[:] = -1  # a copy: the store is unchanged
    assert _same(store[0], records[0])
    sub = store.select(np.array([True, False, True, True]), np.arange(9) % 2 == 0)
    assert [r.image_id for r in sub] == [1000, 1002, 1003]
    assert np.array_equal(sub[0].boxes, records[0].boxes[[0, 2]])


def test_string_column_keeps_any_string():
    strings = ["/a/b/x.jpg", "/a/b/ÿ.png", "/a/b/\udcff.jpg", "/a/b/"]  # a surrogate-escaped byte
    column = StringColumn(strings)
    assert [column[i] for i in range(4)] == strings == column.tolist()
    assert column.prefix == "/a/b/"
    assert column.take(np.array([2, 0])).tolist() == [strings[2], strings[0]]


def _coco(tmp_path, n: int) -> tuple[str, str]:
    folder = tmp_path / f"images{n}"
    folder.mkdir()
    Image.new("RGB", (8, 6)).save(folder / "0.png")
    images = [{"id": i + 1, "file_name": "0.png", "height": 6, "width": 8} for i in range(n)]
    anns = [
        {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 3, 3]} for i in range(n)
    ]
    ann = tmp_path / f"ann{n}.json"
    data = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]}
    ann.write_text(json.dumps(data))
    return str(ann), str(folder)


def _tracked(obj) -> int:
    """gc-tracked objects reachable from ``obj`` (what a worker's reads would copy)."""
    seen, todo = set(), [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen or not gc.is_tracked(item):
            continue
        seen.add(id(item))
        todo.extend(gc.get_referents(item))
    return len(seen)


def test_records_hold_no_python_object_per_image(tmp_path):
    small = CocoDataset(*_coco(tmp_path, 10), scan_images=False)
    large = CocoDataset(*_coco(tmp_path, 2000), scan_images=False)
    assert isinstance(large.records, RecordStore) and len(large) == 2000
    assert _tracked(large.records) == _tracked(small.records)
    # workers get the columns: ~100 bytes per image (one box), not a pickled object each
    grown = len(pickle.dumps(large)) - len(pickle.dumps(small))
    assert grown < 1990 * 120
