"""CocoDataset(with_masks=True): each box's mask equals pycocotools' ``COCO.annToMask`` of
its annotation (polygons, multi-part polygons, polygons reaching outside the image,
compressed and uncompressed RLE, crowd regions), through both JSON readers, with boxes left
out by ``classes`` and by the box clean-up; the RLE run reader against pycocotools' encoder."""

from __future__ import annotations

import contextlib
import io
import json
import pickle

import numpy as np
import pytest
import torch
from coco_mask_fixtures import ann, image, random_polygon, random_rle, write_coco
from detplug_coco.coco_segments import SegmentStore, compact_coords
from detplug_coco.dataset import CocoDataset
from detplug_coco.rle_counts import rle_string_counts, rle_string_stats
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torchvision import tv_tensors


def mixed_file(tmp_path, slow_path: bool):
    """4 images of different sizes, each with every kind of segmentation; one annotation of
    category 2 and one with an empty bbox (dropped by the box clean-up) per image.
    ``slow_path``: an image id written 3.0 sends the file to the entry-by-entry reader."""
    rng = np.random.default_rng(1)
    sizes = [(24, 32), (40, 18), (17, 29), (30, 30)]
    images = [image(i + 1, h, w) for i, (h, w) in enumerate(sizes)]
    anns = []
    for im in images:
        h, w, i = im["height"], im["width"], im["id"]
        segs = [
            ([random_polygon(rng, h, w)], 0),
            ([random_polygon(rng, h, w, 5), random_polygon(rng, h, w, 4)], 0),  # two parts
            ([random_polygon(rng, h, w, 7, margin=6)], 0),  # reaching outside the image
            (random_rle(rng, h, w, compressed=True), 0),
            (random_rle(rng, h, w, compressed=False), 1),  # COCO's crowd form
            (random_rle(rng, h, w, compressed=True), 1),
        ]
        for k, (seg, crowd) in enumerate(segs):
            box = [1 + k, 1, 5, 6]
            anns.append(ann(len(anns) + 1, i, seg, cat=1 + (k == 1), crowd=crowd, bbox=box))
        anns.append(ann(len(anns) + 1, i, [random_polygon(rng, h, w)], bbox=[h + w, 0, 0, 0]))
    rng.shuffle(anns)  # annotations of an image need not be together in the file
    if slow_path:
        images[2]["id"] = 3.0
    return write_coco(tmp_path, images, anns)


def expected(ann_file, image_id, categories):
    """The masks (uint8 [K, H, W]) of the image's annotations as the dataset keeps them:
    file order, of ``categories``, with a non-empty box."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_file)
    kept = [
        a
        for a in coco.dataset["annotations"]
        if a["image_id"] == image_id and a["category_id"] in categories and a["bbox"][2] > 0
    ]
    h, w = coco.imgs[image_id]["height"], coco.imgs[image_id]["width"]
    masks = [coco.annToMask(a) for a in kept]
    return np.stack(masks) if masks else np.zeros((0, h, w), np.uint8), kept


@pytest.mark.parametrize("slow_path", [False, True], ids=["columns", "entry_by_entry"])
@pytest.mark.parametrize("classes", [None, ["a"]], ids=["all", "a_only"])
def test_masks_equal_pycocotools_ann_to_mask(tmp_path, slow_path, classes):
    ann_file, img_dir = mixed_file(tmp_path, slow_path)
    ds = CocoDataset(ann_file, img_dir, with_masks=True, classes=classes)
    categories = {1} if classes else {1, 2}
    assert len(ds) == 4
    for index in range(len(ds)):
        _, target = ds.load_raw(index)
        want, kept = expected(ann_file, target["image_id"], categories)
        masks = target["masks"]
        assert isinstance(masks, tv_tensors.Mask) and masks.dtype == torch.uint8
        assert masks.shape == want.shape, (index, masks.shape, want.shape)
        assert np.array_equal(masks.numpy(), want)
        assert target["ignore"].tolist() == [bool(a["iscrowd"]) for a in kept]
        assert masks.sum() > 0


def test_masks_move_with_the_image_through_transforms_and_pickling(tmp_path):
    ann_file, img_dir = mixed_file(tmp_path, slow_path=False)
    plain = CocoDataset(ann_file, img_dir, with_masks=True)
    flip = [{"type": "RandomHorizontalFlip", "p": 1.0}]
    flipped = pickle.loads(
        pickle.dumps(CocoDataset(ann_file, img_dir, with_masks=True, transforms=flip))
    )
    _, target = plain[1]
    _, moved = flipped[1]
    assert isinstance(moved["masks"], tv_tensors.Mask)
    assert torch.equal(moved["masks"], target["masks"].flip(-1))


def test_without_with_masks_nothing_is_read_or_added(tmp_path):
    anns = [ann(1, 1, "not a segmentation"), ann(2, 1, None)]
    ann_file, img_dir = write_coco(tmp_path, [image(1)], anns)
    ds = CocoDataset(ann_file, img_dir)
    _, target = ds[0]
    assert "masks" not in target and len(target["boxes"]) == 2


def test_segmentations_are_kept_in_flat_arrays(tmp_path):
    ann_file, img_dir = mixed_file(tmp_path, slow_path=False)
    store = CocoDataset(ann_file, img_dir, with_masks=True)._segments
    assert isinstance(store, SegmentStore) and len(store) == 4 * 7  # empty boxes go later
    fields = {k: v for k, v in vars(store).items() if k != "coord_scale"}
    assert all(isinstance(v, np.ndarray) for v in fields.values())  # no object per annotation
    assert store.coords.dtype == np.int32 and store.coord_scale == 100  # 2 decimals
    assert store.nbytes < 3000


def test_coordinates_come_back_bit_for_bit():
    rng = np.random.default_rng(3)
    text = json.dumps(rng.uniform(-50, 5000, 20000).round(2).tolist())
    values = np.array(json.loads(text))  # the doubles a JSON parser makes of 2 decimals
    stored, scale = compact_coords(values)
    assert stored.dtype == np.int32 and np.array_equal(stored / scale, values)
    finer = values + 1e-3
    stored, scale = compact_coords(finer)
    assert stored.dtype == np.float64 and np.array_equal(stored / scale, finer)


def test_masks_of_coordinates_with_more_decimals(tmp_path):
    rng = np.random.default_rng(4)
    polygons = [rng.uniform(-3, 30, 12).tolist() for _ in range(3)]
    anns = [ann(i + 1, 1, [p]) for i, p in enumerate(polygons)]
    ann_file, img_dir = write_coco(tmp_path, [image(1, 24, 32)], anns)
    ds = CocoDataset(ann_file, img_dir, with_masks=True)
    assert ds._segments.coords.dtype == np.float64
    want, _ = expected(ann_file, 1, {1})
    assert np.array_equal(ds.load_raw(0)[1]["masks"].numpy(), want)


def runs_of(mask):
    flat = mask.flatten(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    return ([0] if flat[0] else []) + np.diff(bounds).tolist()


def packed(strings):
    starts = np.zeros(len(strings) + 1, np.int64)
    np.cumsum([len(s) for s in strings], out=starts[1:])
    return np.frombuffer(b"".join(strings), np.uint8), starts


def test_rle_runs_equal_pycocotools_encoding():
    rng = np.random.default_rng(0)
    masks = []
    for i in range(200):
        h, w = (int(v) for v in rng.integers(1, 200, 2))
        mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        if i % 3 == 0:  # long runs: counts of several characters
            mask = np.zeros((h, w), np.uint8)
            mask[int(rng.integers(0, h)) :, int(rng.integers(0, w)) :] = 1
        masks.append(mask)
    strings = [mask_utils.encode(np.asfortranarray(m))["counts"] for m in masks]
    buffer, starts = packed(strings)
    counts, owner, place, ok = rle_string_counts(buffer, starts)
    assert ok.all()
    for i, m in enumerate(masks):
        assert counts[owner == i].tolist() == runs_of(m)
        assert place[owner == i].tolist() == list(range(len(runs_of(m))))
    stats = rle_string_stats(buffer, starts)
    assert stats.total.tolist() == [m.size for m in masks]
    assert stats.area.tolist() == [int(m.sum()) for m in masks]


def test_malformed_rle_strings_are_not_ok():
    good = mask_utils.encode(np.asfortranarray(np.eye(6, dtype=np.uint8)))["counts"]
    bad = [
        good[:-1] + b"\x7f",  # a character outside '0'..'o'
        good + b"h",  # ends inside a run (0x20 set on the last character)
        b"PPPPPPPP0",  # a run of 9 characters (0x20 set on the first 8)
        b"0@",  # 0 then a negative run (-16: bit 0x10 of its last character)
    ]
    stats = rle_string_stats(*packed([good, *bad, good]))
    assert stats.ok.tolist() == [True, False, False, False, False, True]
    assert stats.total[0] == stats.total[-1] == 36
