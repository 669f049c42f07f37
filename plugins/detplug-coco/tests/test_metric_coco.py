"""CocoMetric against pycocotools' COCOeval called directly on hand-built COCO json.

Every comparison is exact float equality: the metric must feed COCOeval exactly what a user
writing the GT/results json by hand would.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from detplug_coco.metric import CocoMetric
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import detplug_core

KEYS = ["mAP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


# ---------------------------------------------------------------- generated cases (numpy)
def random_boxes(rng: np.random.Generator, n: int, size: float = 400.0) -> np.ndarray:
    """xyxy float32 boxes with sides from 2 to ~250 px (small, medium and large areas)."""
    xy = rng.uniform(0, size, (n, 2))
    wh = np.exp(rng.uniform(np.log(2), np.log(250), (n, 2)))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def make_case(
    seed: int,
    n_images: int = 12,
    n_classes: int = 4,
    max_gt: int = 8,
    max_extra_dets: int = 10,
    p_empty: float = 0.2,
    p_no_det: float = 0.15,
    p_crowd: float = 0.1,
) -> list[dict]:
    """Images with GT (some empty, some crowd) and detections: jittered GT copies (TPs at
    varied IoU, duplicates) plus random false positives; scores rounded to force ties."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_images):
        n_gt = 0 if rng.random() < p_empty else int(rng.integers(1, max_gt + 1))
        gt = random_boxes(rng, n_gt)
        gt_labels = rng.integers(0, n_classes, n_gt)
        ignore = rng.random(n_gt) < p_crowd
        if rng.random() < p_no_det:
            det = np.zeros((0, 4), np.float32)
            det_labels = np.zeros(0, np.int64)
        else:
            copies = rng.integers(0, n_gt, int(rng.integers(0, 2 * n_gt + 1))) if n_gt else []
            jitter = rng.normal(0, 6, (len(copies), 4))
            jittered = gt[copies] + jitter if len(copies) else np.zeros((0, 4))
            extra = random_boxes(rng, int(rng.integers(0, max_extra_dets + 1)))
            det = np.concatenate([jittered, extra]).astype(np.float32)
            flip = rng.random(len(copies)) < 0.1  # some copies with the wrong class
            labels_copy = np.where(flip, rng.integers(0, n_classes, len(copies)), gt_labels[copies])
            det_labels = np.concatenate([labels_copy, rng.integers(0, n_classes, len(extra))])
        scores = np.round(rng.uniform(0.05, 1.0, len(det)), 2).astype(np.float32)
        images.append(
            {
                "image_id": 1000 + 7 * i,
                "gt": gt,
                "gt_labels": gt_labels.astype(np.int64),
                "ignore": ignore,
                "det": det,
                "det_labels": det_labels.astype(np.int64),
                "scores": scores,
            }
        )
    return images


# ----------------------------------------------------------------- reference: COCOeval
def reference_eval(
    case: list[dict], n_classes: int, cat_ids: list[int] | None = None, **params
) -> COCOeval:
    """GT and results json written by hand, then COCOeval exactly as its README shows."""
    cat_ids = cat_ids or list(range(1, n_classes + 1))

    def xywh(b):  # from the float32 values, in Python floats
        x1, y1, x2, y2 = (float(v) for v in b)
        return [x1, y1, x2 - x1, y2 - y1]

    anns, results = [], []
    for img in case:
        for b, lab, crowd in zip(img["gt"], img["gt_labels"], img["ignore"], strict=True):
            box = xywh(b)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img["image_id"],
                    "category_id": cat_ids[int(lab)],
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(crowd),
                }
            )
        for b, lab, s in zip(img["det"], img["det_labels"], img["scores"], strict=True):
            results.append(
                {
                    "image_id": img["image_id"],
                    "category_id": cat_ids[int(lab)],
                    "bbox": xywh(b),
                    "score": float(s),
                }
            )
    gt_json = {
        "images": [{"id": img["image_id"]} for img in case],
        "annotations": anns,
        "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_json
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes cannot take [], so: the same images, no annotations
            coco_dt = COCO()
            coco_dt.dataset = {**gt_json, "annotations": []}
            coco_dt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_dt, "bbox")
        for key, value in params.items():
            setattr(coco_eval.params, key, value)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval


def run_metric(case: list[dict], metric: CocoMetric, batch: int = 3) -> dict[str, float]:
    for start in range(0, len(case), batch):
        chunk = case[start : start + batch]
        preds = [
            {
                "boxes": torch.from_numpy(img["det"]).reshape(-1, 4),
                "scores": torch.from_numpy(img["scores"]),
                "labels": torch.from_numpy(img["det_labels"]),
            }
            for img in chunk
        ]
        targets = [
            {
                "boxes": torch.from_numpy(img["gt"]).reshape(-1, 4),
                "labels": torch.from_numpy(img["gt_labels"]),
                "ignore": torch.from_numpy(img["ignore"]),
                "image_id": img["image_id"],
            }
            for img in chunk
        ]
        metric.update(preds, targets)
    return metric.compute()


def assert_same(case: list[dict], n_classes: int, **metric_kwargs) -> CocoMetric:
    metric = CocoMetric(classes=[f"c{i}" for i in range(n_classes)], **metric_kwargs)
    ours = run_metric(case, metric)
    ref = reference_eval(case, n_classes)
    assert list(ours) == KEYS
    assert list(ours.values()) == [float(v) for v in ref.stats]  # exact, to the last digit
    return metric


# ------------------------------------------------------------------------------ cases
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_cases_equal_cocoeval(seed):
    case = make_case(seed)
    metric = assert_same(case, 4)
    assert 0 < metric.compute()["mAP"] < 1  # a case with real TPs and FPs, not a trivial 0/1


def test_crowd_regions_equal_cocoeval():
    case = make_case(10, n_images=10, n_classes=3, p_crowd=0.5, p_empty=0.0)
    assert sum(int(img["ignore"].sum()) for img in case) > 5
    assert_same(case, 3)


def test_many_classes_some_without_gt():
    case = make_case(11, n_images=15, n_classes=40, max_gt=4)
    present = {int(lab) for img in case for lab in img["gt_labels"]}
    assert len(present) < 40
    metric = assert_same(case, 40)
    rows = metric.per_class()
    for i, row in enumerate(rows):
        if i not in present:  # absent from GT: COCOeval's -1 ("undefined"), not 0
            assert (row["num_gt"], row["AP"], row["AP50"], row["AP75"]) == (0, -1.0, -1.0, -1.0)


def test_no_detections_at_all():
    case = make_case(12, p_no_det=1.0)
    assert all(len(img["det"]) == 0 for img in case)
    assert_same(case, 4)


def test_images_without_gt_only():
    case = make_case(13, p_empty=1.0)
    metric = assert_same(case, 4)
    assert set(metric.compute().values()) == {-1.0}


def test_more_than_100_detections_per_image():
    case = make_case(14, n_images=4, max_gt=30, max_extra_dets=250, p_no_det=0.0)
    case[0]["det"] = np.concatenate([case[0]["det"], random_boxes(np.random.default_rng(0), 150)])
    case[0]["det_labels"] = np.concatenate([case[0]["det_labels"], np.zeros(150, np.int64)])
    case[0]["scores"] = np.concatenate([case[0]["scores"], np.full(150, 0.5, np.float32)])
    assert max(len(img["det"]) for img in case) > 150
    assert_same(case, 4)


def test_custom_max_dets_renames_ar_keys():
    case = make_case(15)
    metric = CocoMetric(classes=list("abcd"), max_dets=(1, 5, 100))
    ours = run_metric(case, metric)
    ref = reference_eval(case, 4, maxDets=[1, 5, 100])
    assert [k for k in ours if k.startswith("AR") and k[2:].isdigit()] == ["AR1", "AR5", "AR100"]
    assert list(ours.values()) == [float(v) for v in ref.stats]


@pytest.mark.parametrize("as_dict", [False, True])
def test_label_to_cat_id(as_dict):
    case = make_case(16)
    coco_ids = [1, 3, 18, 90]
    mapping = dict(enumerate(coco_ids)) if as_dict else coco_ids
    metric = CocoMetric(classes=list("abcd"), label_to_cat_id=mapping, outfile_prefix=None)
    ours = run_metric(case, metric)
    ref = reference_eval(case, 4, cat_ids=coco_ids)
    assert list(ours.values()) == [float(v) for v in ref.stats]


def test_per_class_equals_cocoeval_restricted_to_the_class():
    case = make_case(17, n_images=15)
    metric = CocoMetric(classes=list("abcd"))
    run_metric(case, metric)
    for k, row in enumerate(metric.per_class()):
        ref = reference_eval(case, 4, catIds=[k + 1])
        assert (row["AP"], row["AP50"], row["AP75"]) == tuple(float(v) for v in ref.stats[:3])
        non_crowd = sum(int(((img["gt_labels"] == k) & ~img["ignore"]).sum()) for img in case)
        assert row["num_gt"] == non_crowd


def test_results_json_is_standard(tmp_path):
    case = make_case(18)
    metric = CocoMetric(classes=list("abcd"), outfile_prefix=str(tmp_path / "out" / "val"))
    ours = run_metric(case, metric)
    path = tmp_path / "out" / "val.bbox.json"
    results = json.loads(path.read_text())
    assert len(results) == sum(len(img["det"]) for img in case)
    assert set(results[0]) == {"image_id", "category_id", "bbox", "score"}
    ref = reference_eval(case, 4)  # same numbers when COCOeval reads the written file
    with contextlib.redirect_stdout(io.StringIO()):
        from_file = COCOeval(ref.cocoGt, ref.cocoGt.loadRes(str(path)), "bbox")
        from_file.evaluate()
        from_file.accumulate()
        from_file.summarize()
    assert list(ours.values()) == [float(v) for v in from_file.stats]


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31),
    n_images=st.integers(1, 6),
    n_classes=st.integers(1, 6),
    p_crowd=st.sampled_from([0.0, 0.3]),
)
def test_property_equals_cocoeval(seed, n_images, n_classes, p_crowd):
    case = make_case(seed, n_images=n_images, n_classes=n_classes, max_gt=5, p_crowd=p_crowd)
    assert_same(case, n_classes)


# ------------------------------------------------------------------- behaviour around it
def test_silent_and_summary(capsys):
    metric = assert_same(make_case(19), 4)
    assert capsys.readouterr().out == ""
    assert metric.summary.count("Average Precision") == 6
    assert "num_gt" in metric.summary  # the per-class table


def test_no_images_gives_minus_one():
    metric = CocoMetric(classes=["a", "b"])
    assert metric.compute() == dict.fromkeys(KEYS, -1.0)
    assert [r["AP"] for r in metric.per_class()] == [-1.0, -1.0]


def test_reset_and_classwise_off():
    case = make_case(20)
    metric = CocoMetric(classes=list("abcd"), classwise=False)
    first = run_metric(case, metric)
    assert metric.per_class() == []
    metric.reset()
    assert run_metric(case, metric) == first  # same image ids accepted again after reset


def test_bad_inputs_are_named():
    metric = CocoMetric(classes=["a"])
    box = torch.tensor([[0.0, 0.0, 5.0, 5.0]])
    pred = {"boxes": box, "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
    target = {"boxes": box, "labels": torch.tensor([0]), "image_id": 4}
    metric.update([pred], [target])
    with pytest.raises(ValueError, match="image_id seen twice"):
        metric.update([pred], [target])
    with pytest.raises(ValueError, match="label 3 is outside 0..0"):
        metric.update([{**pred, "labels": torch.tensor([3])}], [{**target, "image_id": 5}])
    with pytest.raises(ValueError, match="1 predictions for 2 targets"):
        metric.update([pred], [target, target])
    with pytest.raises(ValueError, match="'scores' has 2 entries for 1 boxes"):
        metric.update([{**pred, "scores": torch.tensor([0.5, 0.1])}], [{**target, "image_id": 6}])
    with pytest.raises(RuntimeError, match="compute"):
        CocoMetric(classes=["a"]).per_class()
    with pytest.raises(ValueError, match="ending in 100"):
        CocoMetric(classes=["a"], max_dets=(1, 10, 300))
    with pytest.raises(ValueError, match="iou_type"):
        CocoMetric(classes=["a"], iou_type="keypoints")
    with pytest.raises(ValueError, match="iou_type"):
        CocoMetric(classes=["a"], iou_type=["bbox", "bbox"])
    with pytest.raises(ValueError, match="distinct"):
        CocoMetric(classes=["a", "b"], label_to_cat_id=[3, 3])


def test_built_from_the_registry():
    metric = detplug_core.METRICS.build({"type": "CocoMetric", "classwise": False}, classes=["a"])
    assert isinstance(metric, CocoMetric)
    assert metric.prefix == "coco"


def test_accepts_bounding_boxes_bf16_and_tensor_image_id():
    from torchvision import tv_tensors

    box = tv_tensors.BoundingBoxes(
        torch.tensor([[0.0, 0.0, 8.0, 8.0]]), format="XYXY", canvas_size=(9, 9)
    )
    metric = CocoMetric(classes=["a"])
    metric.update(
        [
            {
                "boxes": box.to(torch.bfloat16),
                "scores": torch.tensor([0.5], dtype=torch.bfloat16),
                "labels": torch.tensor([0]),
            }
        ],
        [
            {
                "boxes": box,
                "labels": torch.tensor([0]),
                "image_id": torch.tensor(7),
                "orig_size": (9, 9),
            }
        ],
    )
    assert metric.compute()["AR1"] == 1.0


def test_in_memory_ground_truth_has_an_info_section():
    """pycocotools 2.0.10's ``loadRes`` (and every version's ``COCO.info()``) reads
    ``dataset["info"]``; the ground truth built in memory must carry one."""
    from detplug_coco.coco_convert import coco_from_dict, coco_results

    gt = coco_from_dict(
        {
            "images": [{"id": 1, "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "a"}],
            "annotations": [],
        }
    )
    with contextlib.redirect_stdout(io.StringIO()):
        gt.info()  # KeyError without an info section
    result = coco_results(
        gt, [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "score": 0.9}]
    )
    assert result.dataset["info"] == {}
