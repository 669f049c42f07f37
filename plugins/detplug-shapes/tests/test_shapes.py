"""detplug-shapes: deterministic generation, COCO validity, caching, atomicity."""

from __future__ import annotations

import filecmp
import json
import os

import numpy as np
import pytest
from detplug_shapes import SHAPE_KINDS, ShapesDataset
from detplug_shapes import cache as cache_module
from detplug_shapes.generator import ShapesSpec, render_image
from pycocotools.coco import COCO

import detplug_core
from detplug_core.errors import BuildError, DataError

SMALL = {"num_images": 6, "image_size": 64, "max_objects": 5}


def files_of(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = ShapesDataset(seed=3, cache_dir=tmp_path / "a", **SMALL)
    b = ShapesDataset(seed=3, cache_dir=tmp_path / "b", **SMALL)
    assert a.root.name == b.root.name
    names = files_of(a.root)
    assert names == files_of(b.root) and len(names) == 7  # 6 PNGs + annotations.json
    match, mismatch, errors = filecmp.cmpfiles(a.root, b.root, names, shallow=False)
    assert mismatch == errors == [] and len(match) == 7
    other = ShapesDataset(seed=4, cache_dir=tmp_path / "a", **SMALL)
    assert other.root != a.root
    assert not filecmp.cmp(a.root / "images/000000.png", other.root / "images/000000.png", False)
    val = ShapesDataset(split="val", seed=3, cache_dir=tmp_path / "a", **SMALL)
    assert not filecmp.cmp(a.root / "images/000000.png", val.root / "images/000000.png", False)


def test_coco_files_pass_pycocotools_and_match_the_dataset(tmp_path):
    ds = ShapesDataset(seed=0, cache_dir=tmp_path, num_classes=4, **SMALL)
    coco = COCO(str(ds.root / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_KINDS[:4])
    assert ds.classes == list(SHAPE_KINDS[:4]) and ds.label_to_cat_id == [1, 2, 3, 4]
    assert len(coco.getImgIds()) == len(ds) == 6
    assert len(coco.getAnnIds()) == sum(len(ds.records[i].boxes) for i in range(len(ds)))
    for i in range(len(ds)):
        image, target = ds[i]
        assert image.shape == (3, 64, 64)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[target["image_id"]]))
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        assert target["boxes"].tolist() == xyxy
        assert target["labels"].tolist() == [a["category_id"] - 1 for a in anns]


def test_objects_sizes_overlap_and_tight_boxes():
    spec = ShapesSpec("train", 40, 192, 1, 6, SHAPE_KINDS, (16, 80), seed=1)
    counts = np.zeros(len(SHAPE_KINDS), int)
    for i in range(40):
        image, objects = render_image(spec, i)
        assert image.size == (192, 192) and 1 <= len(objects) <= 6
        boxes = np.array([o["box"] for o in objects], dtype=float)
        wh = boxes[:, 2:] - boxes[:, :2]
        assert (boxes >= 0).all() and (boxes <= 192).all()
        assert (wh >= 14).all() and (wh <= 80).all()  # rasterising may trim a pixel or two
        for j in range(len(boxes)):
            for k in range(j):
                lo, hi = (
                    np.maximum(boxes[j, :2], boxes[k, :2]),
                    np.minimum(boxes[j, 2:], boxes[k, 2:]),
                )
                inter = np.prod(np.clip(hi - lo, 0, None))
                assert inter <= 0.25 * min(np.prod(wh[j]), np.prod(wh[k])) + 1e-6
        for o in objects:
            counts[o["label"]] += 1
    assert (counts > 0).all()  # every kind occurs


def test_cache_is_reused_and_honours_detplug_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DETPLUG_CACHE", str(tmp_path))
    first = ShapesDataset(**SMALL)
    assert first.root.parent == tmp_path / "shapes"
    monkeypatch.setattr("detplug_shapes.dataset.generate", lambda *a: pytest.fail("regenerated"))
    again = detplug_core.DATASETS.build({"type": "ShapesDataset", **SMALL})
    assert again.root == first.root and len(again) == 6


def test_a_crash_leaves_no_dataset_and_the_next_run_completes(tmp_path, monkeypatch):
    import detplug_shapes.dataset as dataset_module

    real = dataset_module.generate

    def crash(spec, out):
        real(ShapesSpec(**{**spec.__dict__, "num_images": 2}), out)
        raise KeyboardInterrupt  # killed half-way

    monkeypatch.setattr(dataset_module, "generate", crash)
    with pytest.raises(KeyboardInterrupt):
        ShapesDataset(cache_dir=tmp_path, **SMALL)
    assert os.listdir(tmp_path) == []  # neither a final folder nor a temp folder
    monkeypatch.setattr(dataset_module, "generate", real)
    assert len(ShapesDataset(cache_dir=tmp_path, **SMALL)) == 6


def test_losing_a_generation_race_keeps_the_winner(tmp_path):
    key, marker = "k", "done.txt"

    def generate(out):  # another process finishes first, while this one generates
        (tmp_path / key).mkdir()
        (tmp_path / key / marker).write_text("winner")
        with open(os.path.join(out, marker), "w") as f:
            f.write("loser")

    final = cache_module.ensure_generated(tmp_path, key, marker, generate)
    assert (final / marker).read_text() == "winner"
    assert os.listdir(tmp_path) == [key]
    (final / marker).unlink()
    with pytest.raises(DataError, match="is incomplete"):
        cache_module.ensure_generated(tmp_path, key, marker, generate)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ["circle"]}, "classes must be distinct shape kinds"),
        ({"num_classes": 8}, "num_classes must be 1..7"),
        ({"classes": ["star"], "num_classes": 2}, "num_classes=2 but 1 classes"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects"),
        ({"object_size": [2, 10]}, "object_size"),
        ({"split": "../x"}, "split must be a plain name"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, message):
    with pytest.raises(BuildError, match=message):
        ShapesDataset(cache_dir=tmp_path, **kwargs)


def test_info_records_the_spec(tmp_path):
    ds = ShapesDataset(classes=["star", "cross"], seed=9, cache_dir=tmp_path, **SMALL)
    info = json.loads((ds.root / "annotations.json").read_text())["info"]
    assert info["spec"]["classes"] == ["star", "cross"] and info["spec"]["seed"] == 9
    assert ds.classes == ["star", "cross"]
