"""Small COCO files with segmentations, written at test time (PNG images of any size)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

CATS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def write_coco(tmp_path, images, annotations, categories=CATS, name="ann.json"):
    """The JSON file plus one PNG per image entry (its height x width); (ann_file, img_dir)."""
    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    for im in images:
        pixels = np.full((im["height"], im["width"], 3), im["id"] % 200, np.uint8)
        Image.fromarray(pixels).save(img_dir / im["file_name"])
    ann_file = tmp_path / name
    data = {"images": images, "annotations": annotations, "categories": categories}
    ann_file.write_text(json.dumps(data))
    return str(ann_file), str(img_dir)


def image(i, h=24, w=32):
    return {"id": i, "file_name": f"{i}.png", "height": h, "width": w}


def ann(i, image_id, segmentation, cat=1, crowd=0, bbox=None):
    """An annotation whose box is ``bbox`` or, by default, the whole image's top-left 8x8."""
    entry = {"id": i, "image_id": image_id, "category_id": cat, "iscrowd": crowd}
    entry["bbox"] = bbox if bbox is not None else [0, 0, 8, 8]
    if segmentation is not None:
        entry["segmentation"] = segmentation
    return entry


def random_polygon(rng, h, w, points=6, margin=0.0):
    """A polygon (flat list) of ``points`` random points, ``margin`` px beyond the image."""
    xs = rng.uniform(-margin, w + margin, points).round(2)
    ys = rng.uniform(-margin, h + margin, points).round(2)
    return np.stack([xs, ys], 1).reshape(-1).tolist()


def random_rle(rng, h, w, compressed=True):
    """An RLE of a random blob: pycocotools' compressed form, or the uncompressed runs."""
    mask = np.zeros((h, w), np.uint8)
    y, x = int(rng.integers(0, h - 2)), int(rng.integers(0, w - 2))
    mask[y : y + int(rng.integers(2, h)), x : x + int(rng.integers(2, w))] = 1
    mask &= (rng.random((h, w)) < 0.8).astype(np.uint8)
    mask[y, x] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    if compressed:
        return {"size": [h, w], "counts": rle["counts"].decode("ascii")}
    flat = mask.flatten(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    return {"size": [h, w], "counts": ([0] if flat[0] else []) + runs}
