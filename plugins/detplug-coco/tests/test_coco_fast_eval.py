"""The array COCOeval against pycocotools' COCOeval: every stat and the whole precision and
recall arrays, bit for bit (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest
from detplug_coco.coco_convert import Boxes
from detplug_coco.coco_eval_backend import _pycocotools, run_cocoeval
from detplug_coco.metric import CocoMetric


def _case(seed: int, n_images: int, max_dets: int, p_crowd: float = 0.1) -> tuple[dict, list]:
    """Images with 0..11 boxes of 6 classes (some crowd), detections near them (TPs at varied
    IoU, duplicates, wrong classes) or anywhere, up to ``max_dets`` per image, scores with
    ties; some images empty, some without detections."""
    rng = np.random.default_rng(seed)
    images = [
        {"id": int(i) * 3 + 1, "height": 480, "width": 640} for i in rng.permutation(n_images)
    ]
    anns: list[dict] = []
    results: list[dict] = []
    for im in images:
        gts = []
        for _ in range(int(rng.integers(0, 12)) if rng.random() > 0.2 else 0):
            x, y = rng.uniform(0, 560, 2).tolist()
            w, h = np.exp(rng.uniform(np.log(2), np.log(200), 2)).tolist()
            cat = int(rng.integers(1, 7))
            gts.append((x, y, w, h, cat))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "category_id": cat,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(rng.random() < p_crowd),
                }
            )
        for _ in range(int(rng.integers(0, max_dets + 1)) if rng.random() > 0.15 else 0):
            if gts and rng.random() < 0.5:
                x, y, w, h, cat = gts[int(rng.integers(0, len(gts)))]
                x, y = x + rng.normal(0, 3), y + rng.normal(0, 3)
                if rng.random() < 0.2:
                    cat = int(rng.integers(1, 7))
            else:
                x, y = rng.uniform(0, 560, 2).tolist()
                w, h = np.exp(rng.uniform(np.log(2), np.log(200), 2)).tolist()
                cat = int(rng.integers(1, 7))
            score = float(np.round(rng.random(), 2))
            results.append(
                {"image_id": im["id"], "category_id": cat, "bbox": [x, y, w, h], "score": score}
            )
    categories = [{"id": c, "name": str(c)} for c in range(1, 8)]  # 7: never present
    return {"images": images, "annotations": anns, "categories": categories}, results


def _boxes(entries: list[dict], extra: str, dtype) -> Boxes:
    return Boxes(
        np.array([e["image_id"] for e in entries], np.int64),
        np.array([e["category_id"] for e in entries], np.int64),
        np.array([e["bbox"] for e in entries], np.float64).reshape(-1, 4),
        np.array([e[extra] for e in entries], dtype),
    )


def _assert_identical(dataset: dict, results: list, max_dets=(1, 10, 100)) -> None:
    ref = _pycocotools(dataset, results, max_dets)  # COCOeval on the hand-built json
    ours = run_cocoeval(
        dataset["images"],
        dataset["categories"],
        _boxes(dataset["annotations"], "iscrowd", bool),
        _boxes(results, "score", np.float64),
        max_dets,
        "vectorized",
    )
    assert ours.stats.tolist() == ref.stats.tolist()
    assert np.array_equal(ours.precision, ref.precision)
    assert np.array_equal(ours.recall, ref.recall)
    assert ours.cat_ids == ref.cat_ids and ours.table == ref.table


@pytest.mark.parametrize("seed", range(4))
def test_random_detections_with_crowd_and_empty_images(seed):
    _assert_identical(*_case(seed, n_images=40, max_dets=30))


def test_more_than_100_detections_per_image():
    dataset, results = _case(7, n_images=12, max_dets=260)
    assert max(np.unique([r["image_id"] for r in results], return_counts=True)[1]) > 100
    _assert_identical(dataset, results)
    _assert_identical(dataset, results, max_dets=(1, 5, 100))


def test_only_crowd_regions_and_no_detections():
    dataset, results = _case(3, n_images=10, max_dets=20, p_crowd=1.0)
    _assert_identical(dataset, results)
    _assert_identical(dataset, [])


def test_identical_boxes_tie_as_pycocotools_breaks_ties():
    box = [10.0, 10.0, 50.0, 40.0]
    images = [{"id": 1, "height": 100, "width": 100}]
    anns = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": box, "area": 2000.0, "iscrowd": c}
        for i, c in enumerate([0, 1, 0, 0])
    ]
    results = [
        {"image_id": 1, "category_id": 1, "bbox": box, "score": s} for s in (0.9, 0.9, 0.5, 0.9)
    ]
    _assert_identical(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]}, results
    )


def test_backend_is_a_config_key():
    assert CocoMetric(["a"]).backend == "vectorized"
    assert CocoMetric(["a"], backend="pycocotools").backend == "pycocotools"
    with pytest.raises(ValueError, match=r"backend must be one of \['vectorized', 'pycocotools'\]"):
        CocoMetric(["a"], backend="fast")
