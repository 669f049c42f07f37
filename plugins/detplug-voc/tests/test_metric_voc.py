"""VOCMetric against hand-computed precision/recall, and an independent loop implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from detplug_voc.metric import VOCMetric
from detplug_voc.voc_eval import ap_11point, ap_area, box_iou
from hypothesis import given, settings
from hypothesis import strategies as st

import detplug_core


def pred(boxes, scores, labels):
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


def target(boxes, labels, ignore=None, image_id=0):
    t = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "image_id": image_id,
    }
    if ignore is not None:
        t["ignore"] = torch.tensor(ignore, dtype=torch.bool)
    return t


A, B, C, D = [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10], [40, 40, 50, 50]


def difficult_and_duplicate_case(metric: VOCMetric) -> None:
    """One class. Image 0: GT A, B and D (difficult); image 1: GT C. 3 positives (A, B, C).

    score  image  box                best GT (IoU)    outcome
    0.9    0      A                  A (1.0)          TP, A matched
    0.8    0      [1,0,11,10]        A (90/110=.82)   FP, duplicate of A
    0.7    0      D                  D (1.0)          ignored: D is difficult
    0.6    1      C                  C (1.0)          TP
    0.5    1      [50,50,60,60]      none             FP
    0.4    0      [100,100,110,110]  none             FP

    Without the ignored row: TP FP TP FP FP
      tp cum    1    1    2    2    2      recall    1/3  1/3  2/3  2/3  2/3
      fp cum    0    1    1    2    3      precision 1    1/2  2/3  1/2  2/5
    Envelope: 1 up to recall 1/3, 2/3 up to recall 2/3, 0 beyond (B is never found).
    area AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
    11-point: t = 0, .1, .2, .3 -> 1; t = .4, .5, .6 -> 2/3; t = .7 .. 1 -> 0
              AP = (4 * 1 + 3 * 2/3) / 11 = 6/11
    """
    metric.update(
        [
            pred([A, [1, 0, 11, 10], D, [100, 100, 110, 110]], [0.9, 0.8, 0.7, 0.4], [0] * 4),
            pred([C, [50, 50, 60, 60]], [0.6, 0.5], [0, 0]),
        ],
        [
            target([A, B, D], [0, 0, 0], ignore=[False, False, True], image_id=0),
            target([C], [0], ignore=[False], image_id=1),
        ],
    )


def test_difficult_and_duplicates_area_ap():
    metric = VOCMetric(classes=["cat"])
    difficult_and_duplicate_case(metric)
    out = metric.compute()
    assert out["mAP"] == pytest.approx(5 / 9, abs=1e-12)
    assert out["mAP_area"] == pytest.approx(5 / 9, abs=1e-12)
    assert out["mAP_11pt"] == pytest.approx(6 / 11, abs=1e-12)
    (row,) = metric.per_class()
    assert row["class"] == "cat"
    assert (row["num_gt"], row["num_det"]) == (3, 6)
    assert row["recall"] == pytest.approx(2 / 3)
    assert row["AP"] == row["AP_area"]


def test_difficult_and_duplicates_11points():
    metric = VOCMetric(classes=["cat"], ap_method="11points")
    difficult_and_duplicate_case(metric)
    out = metric.compute()
    assert out["mAP"] == pytest.approx(6 / 11, abs=1e-12)
    assert metric.per_class()[0]["AP"] == pytest.approx(6 / 11, abs=1e-12)


def test_difficult_counted_if_not_flagged():
    """Same case with D not difficult: 4 positives, the 0.7 detection becomes a TP.
    TP FP TP TP FP FP: recall 1/4 1/4 2/4 3/4 3/4 3/4, precision 1 1/2 2/3 3/4 3/5 1/2.
    Envelope: 1 to 1/4, then 3/4 to 3/4. area = 1/4 + 2/4 * 3/4 = 5/8.
    11-point: t=0..0.2 -> 1 (3), t=.3..0.7 -> 3/4 (5), t=.8..1 -> 0: (3 + 15/4) / 11 = 27/44.
    """
    metric = VOCMetric(classes=["cat"])
    metric.update(
        [
            pred([A, [1, 0, 11, 10], D, [100, 100, 110, 110]], [0.9, 0.8, 0.7, 0.4], [0] * 4),
            pred([C, [50, 50, 60, 60]], [0.6, 0.5], [0, 0]),
        ],
        [target([A, B, D], [0, 0, 0]), target([C], [0], image_id=1)],
    )
    out = metric.compute()
    assert out["mAP_area"] == pytest.approx(5 / 8, abs=1e-12)
    assert out["mAP_11pt"] == pytest.approx(27 / 44, abs=1e-12)


def test_duplicate_goes_to_highest_iou_gt_even_if_matched():
    """GT A=[0,0,10,10], G=[0,5,10,15]. d1 = A (0.9): TP on A. d2 = [0,2,10,12] (0.8):
    IoU with A = 80/120 = .67, with G = 70/130 = .54; its best GT is A, already matched, so FP
    (VOC does not fall back to G, COCOeval would). Ranked TP FP: recall 1/2 1/2, precision
    1 1/2. area = 1/2 * 1 = 1/2. 11-point: t = 0 .. .5 -> 1 (6 points), rest 0: 6/11."""
    metric = VOCMetric(classes=["a"])
    metric.update(
        [pred([A, [0, 2, 10, 12]], [0.9, 0.8], [0, 0])], [target([A, [0, 5, 10, 15]], [0, 0])]
    )
    out = metric.compute()
    assert out["mAP_area"] == pytest.approx(0.5, abs=1e-12)
    assert out["mAP_11pt"] == pytest.approx(6 / 11, abs=1e-12)


def test_iou_threshold_is_inclusive_and_pixel_offset():
    """det [0,0,10,5] on GT [0,0,10,10]: IoU 50/100 = .5 exactly: a TP at iou_thr .5 (>=).
    det [0,0,9,4] on GT [0,0,9,9]: continuous IoU 36/81 = .44 (FP, AP 0); with the devkit's +1
    pixels 50/100 = .5 (TP, AP 1)."""
    metric = VOCMetric(classes=["a"])
    metric.update([pred([[0, 0, 10, 5]], [0.5], [0])], [target([A], [0])])
    assert metric.compute()["mAP"] == 1.0
    for legacy, expected in ((False, 0.0), (True, 1.0)):
        metric = VOCMetric(classes=["a"], legacy_pixel_offset=legacy)
        metric.update([pred([[0, 0, 9, 4]], [0.5], [0])], [target([[0, 0, 9, 9]], [0])])
        assert metric.compute()["mAP"] == expected


def test_classes_without_gt_are_nan_and_left_out_of_the_mean():
    """Class 0: one TP (AP 1). Class 1: only a detection. Class 2: only a difficult GT.
    Class 3: a GT and no detection (AP 0). mAP = mean(1, 0) = 0.5."""
    metric = VOCMetric(classes=["a", "b", "c", "d"])
    metric.update(
        [pred([A, B], [0.9, 0.8], [0, 1])],
        [target([A, D, B], [0, 2, 3], ignore=[False, True, False])],
    )
    out = metric.compute()
    assert out == {"mAP": 0.5, "mAP_area": 0.5, "mAP_11pt": 0.5}
    rows = {r["class"]: r for r in metric.per_class()}
    assert math.isnan(rows["b"]["AP"]) and rows["b"]["num_det"] == 1
    assert math.isnan(rows["c"]["AP"]) and rows["c"]["num_gt"] == 0
    assert rows["d"]["AP"] == 0.0 and rows["d"]["recall"] == 0.0


def test_no_detections_and_no_images():
    metric = VOCMetric(classes=["a"])
    metric.update([pred([], [], [])], [target([A], [0])])
    assert metric.compute() == {"mAP": 0.0, "mAP_area": 0.0, "mAP_11pt": 0.0}
    metric.reset()
    assert all(math.isnan(v) for v in metric.compute().values())


def test_score_ties_keep_input_order():
    """Two detections with the same score, an FP then a TP: precision 0, 1/2 at recall 1 ->
    AP 1/2. Swapped (TP first): AP 1."""
    fp, tp = [50, 50, 60, 60], A
    for boxes, expected in (([fp, tp], 0.5), ([tp, fp], 1.0)):
        metric = VOCMetric(classes=["a"])
        metric.update([pred(boxes, [0.5, 0.5], [0, 0])], [target([A], [0])])
        assert metric.compute()["mAP_area"] == expected


def test_ap_functions_on_a_textbook_curve():
    # recall .2 .4 .4 .6, precision 1 1 .67 .75: envelope 1 to .4, .75 to .6.
    rec, prec = np.array([0.2, 0.4, 0.4, 0.6]), np.array([1.0, 1.0, 2 / 3, 0.75])
    assert ap_area(rec, prec) == pytest.approx(0.4 + 0.2 * 0.75)
    # t = 0 .. .4 -> 1 (5 points), t = .5, .6 -> .75 (2 points): 6.5 / 11
    assert ap_11point(rec, prec) == pytest.approx(6.5 / 11)
    assert ap_11point(np.array([0.3]), np.array([1.0])) == pytest.approx(4 / 11)  # 0.3 >= .3


def test_bad_inputs():
    with pytest.raises(ValueError, match="ap_method"):
        VOCMetric(classes=["a"], ap_method="07")
    metric = VOCMetric(classes=["a"])
    with pytest.raises(ValueError, match="label 1 is outside 0..0"):
        metric.update([pred([A], [0.5], [1])], [target([A], [0])])
    with pytest.raises(RuntimeError, match="compute"):
        metric.per_class()


def test_built_from_the_registry_and_summary():
    metric = detplug_core.METRICS.build(
        {"type": "VOCMetric", "ap_method": "11points"}, classes=["x"]
    )
    assert isinstance(metric, VOCMetric) and metric.prefix == "voc"
    difficult_and_duplicate_case(metric)
    metric.compute()
    assert "x" in metric.summary and "num_gt" in metric.summary


# ----------------------------------------- independent reference: plain loops, by definition
def reference_ap(images: list[dict], cls: int, iou_thr: float) -> tuple[float, float]:
    """Area and 11-point AP of one class, written from the protocol's definition."""
    dets = [
        (float(s), i, [float(v) for v in b])
        for i, img in enumerate(images)
        for b, s, lab in zip(img["det"], img["scores"], img["det_labels"], strict=True)
        if lab == cls
    ]
    dets.sort(key=lambda d: -d[0])  # Python's sort is stable: ties keep input order
    gts = {
        i: [
            ([float(v) for v in b], bool(dif))
            for b, lab, dif in zip(img["gt"], img["gt_labels"], img["ignore"], strict=True)
            if lab == cls
        ]
        for i, img in enumerate(images)
    }
    npos = sum(1 for v in gts.values() for _, dif in v if not dif)
    used: set[tuple[int, int]] = set()
    flags = []  # True = TP, False = FP
    for _, i, d in dets:
        best, best_j = -1.0, -1
        for j, (g, _) in enumerate(gts[i]):
            iw = min(d[2], g[2]) - max(d[0], g[0])
            ih = min(d[3], g[3]) - max(d[1], g[1])
            inter = max(iw, 0.0) * max(ih, 0.0)
            union = (d[2] - d[0]) * (d[3] - d[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            iou = inter / union if union > 0 else 0.0
            if iou > best:
                best, best_j = iou, j
        if best >= iou_thr and gts[i][best_j][1]:
            continue  # difficult: not counted
        if best >= iou_thr and (i, best_j) not in used:
            used.add((i, best_j))
            flags.append(True)
        else:
            flags.append(False)
    recalls, precisions, tp = [], [], 0
    for k, flag in enumerate(flags, start=1):
        tp += flag
        recalls.append(tp / npos)
        precisions.append(tp / k)
    area, prev_r = 0.0, 0.0
    for k, r in enumerate(recalls):
        if r > prev_r:  # recall steps up at a TP: width times the best precision from here on
            area += (r - prev_r) * max(precisions[k:])
            prev_r = r
    eleven = (
        sum(
            max([p for r, p in zip(recalls, precisions, strict=True) if r >= t / 10], default=0.0)
            for t in range(11)
        )
        / 11
    )
    return area, eleven


def random_images(seed: int, n_images: int, n_classes: int, p_difficult: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n_images):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 100, (n, 2))
        gt = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], 1).astype(np.float32)
        gt_labels = rng.integers(0, n_classes, n)
        copies = rng.integers(0, n, int(rng.integers(0, 2 * n + 1))) if n else np.zeros(0, int)
        jittered = gt[copies] + rng.normal(0, 3, (len(copies), 4))
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 100, (k, 2))
        noise = np.concatenate([xy, xy + rng.uniform(5, 60, (k, 2))], 1)
        det = np.concatenate([jittered, noise]).astype(np.float32)
        det_labels = np.concatenate([gt_labels[copies], rng.integers(0, n_classes, k)])
        images.append(
            {
                "gt": gt,
                "gt_labels": gt_labels.astype(np.int64),
                "ignore": rng.random(n) < p_difficult,
                "det": det,
                "det_labels": det_labels.astype(np.int64),
                "scores": np.round(rng.uniform(0, 1, len(det)), 1).astype(np.float32),  # ties
            }
        )
    return images


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31),
    n_images=st.integers(1, 8),
    n_classes=st.integers(1, 4),
    p_difficult=st.sampled_from([0.0, 0.3]),
    iou_thr=st.sampled_from([0.5, 0.7]),
)
def test_matches_independent_loop_implementation(seed, n_images, n_classes, p_difficult, iou_thr):
    images = random_images(seed, n_images, n_classes, p_difficult)
    metric = VOCMetric(classes=[str(c) for c in range(n_classes)], iou_thr=iou_thr)
    metric.update(
        [{"boxes": m["det"], "scores": m["scores"], "labels": m["det_labels"]} for m in images],
        [{"boxes": m["gt"], "labels": m["gt_labels"], "ignore": m["ignore"]} for m in images],
    )
    metric.compute()
    for c, row in enumerate(metric.per_class()):
        if row["num_gt"] == 0:
            assert math.isnan(row["AP_area"]) and math.isnan(row["AP_11pt"])
            continue
        area, eleven = reference_ap(images, c, iou_thr)
        assert row["AP_area"] == pytest.approx(area, abs=1e-12)
        assert row["AP_11pt"] == pytest.approx(eleven, abs=1e-12)


def test_box_iou_matches_the_loop():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 25.0]])
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 0, 15, 10.0]])
    expected = [[1.0, 0.0, 50 / 150], [25 / 275, 0.0, 50 / 250]]
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-12)


def test_accepts_bf16_predictions():
    metric = VOCMetric(classes=["a"])
    p = pred([A], [0.9], [0])
    metric.update(
        [{**p, "boxes": p["boxes"].bfloat16(), "scores": p["scores"].bfloat16()}],
        [target([A], [0])],
    )
    assert metric.compute()["mAP"] == 1.0


def test_prepare_leaves_a_mask_models_masks_out_and_the_numbers_alone():
    """The evaluator keeps what ``prepare`` returns until the metric runs (all of it under
    DDP): a box metric keeps no image-sized masks, and scores the same."""
    preds = [pred([A, [1, 0, 11, 10]], [0.9, 0.8], [0, 0]), pred([C], [0.6], [0])]
    preds[0]["masks"] = torch.rand(2, 1, 64, 64)
    preds[1]["box_masks"] = torch.rand(1, 1, 28, 28)
    targets = [target([A, B], [0, 0], image_id=0), target([C], [0], image_id=1)]
    targets[0]["masks"] = torch.ones(2, 64, 64, dtype=torch.uint8)
    metric = VOCMetric(classes=["a"])
    kept_preds, kept_targets = metric.prepare(preds, targets)
    assert not any({"masks", "box_masks"} & set(p) for p in kept_preds)
    assert not any("masks" in t for t in kept_targets)
    assert "masks" in preds[0] and "masks" in targets[0]  # the inputs are unchanged
    metric.update(kept_preds, kept_targets)
    reference = VOCMetric(classes=["a"])
    reference.update(preds, targets)
    assert metric.compute() == reference.compute()
