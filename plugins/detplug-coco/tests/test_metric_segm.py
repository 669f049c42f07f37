"""CocoMetric with iou_type "segm" (and both types at once) against pycocotools' COCOeval run
on a results json built by hand from the same masks: every stat equal, bit for bit; the
array backend against COCOeval's whole precision and recall arrays too (issue 27)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from detplug_coco.coco_convert import Boxes, coco_from_dict
from detplug_coco.coco_eval_backend import _pycocotools, run_cocoeval
from detplug_coco.metric import CocoMetric
from pycocotools import mask as mask_utils

from detplug_core.errors import ConfigError, DataError

N_CLASSES = 4


def _random_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A rectangle, an ellipse or a ragged blob somewhere in an h x w image."""
    y0, x0 = int(rng.integers(0, h - 1)), int(rng.integers(0, w - 1))
    y1, x1 = int(rng.integers(y0 + 1, h + 1)), int(rng.integers(x0 + 1, w + 1))
    mask = np.zeros((h, w), bool)
    kind = rng.integers(3)
    if kind == 0:
        mask[y0:y1, x0:x1] = True
    elif kind == 1:
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2 + 0.5, (x1 - x0) / 2 + 0.5
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    else:
        mask[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.6
    return mask


def _box_of(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return [0.0, 0.0, 1.0, 1.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _nearby(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """``mask`` shifted by up to 1 pixel with some pixels of its box flipped: a detection."""
    dy, dx = rng.integers(-1, 2, 2)
    moved = np.roll(mask, (int(dy), int(dx)), axis=(0, 1))
    x0, y0, x1, y1 = (int(v) for v in _box_of(moved))
    noise = np.zeros_like(mask)
    noise[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < rng.choice([0.02, 0.1, 0.3])
    return moved ^ noise


def make_case(seed: int, n_images: int = 12, p_crowd: float = 0.15, many: bool = True) -> list:
    """Images of 24..48 px (one of 100, for medium and large areas) with 0..6 masks of 4 classes (some crowd regions), detections near
    them (varied overlap, wrong classes, duplicates) or anywhere (one image with more than 100
    each in two images when ``many``: 256+ masks in all), an empty mask, scores with ties); images without GT, without detections.
    Each item: (prediction with ``masks`` probabilities, target with ``masks``)."""
    rng = np.random.default_rng(seed)
    case = []
    for i in range(n_images):
        h, w = (int(v) for v in rng.integers(24, 49, 2)) if i != 5 else (100, 100)
        gt_masks, labels = [], []
        n_gt = 0 if i % 5 == 1 else 5 if i == 5 else int(rng.integers(0, 7))
        for _ in range(n_gt):
            gt_masks.append(_random_mask(rng, h, w))
            labels.append(int(rng.integers(0, N_CLASSES)))
        if i == 5:  # one large object (area > 96 ** 2)
            gt_masks[0] = np.zeros((h, w), bool)
            gt_masks[0][1:99, 1:99] = True
        crowd = rng.random(len(gt_masks)) < p_crowd
        n_det = int(rng.integers(0, 15)) if i % 6 != 2 else 0
        if many and i in (3, 9):  # with the rest, more than 255 masks (pycocotools#area)
            n_det = 130
        det_masks, det_labels, scores = [], [], []
        for _ in range(n_det):
            if gt_masks and rng.random() < 0.6:
                j = int(rng.integers(0, len(gt_masks)))
                det_masks.append(_nearby(rng, gt_masks[j]))
                det_labels.append(labels[j] if rng.random() > 0.2 else int(rng.integers(0, 4)))
                scores.append(rng.uniform(0.3, 1.0))
            else:
                det_masks.append(_random_mask(rng, h, w))
                det_labels.append(int(rng.integers(0, N_CLASSES)))
                scores.append(rng.uniform(0.0, 0.7))
        if det_masks and i == 4:
            det_masks[0] = np.zeros((h, w), bool)  # an empty mask (area 0)
        binary = np.asarray(det_masks, bool).reshape(-1, h, w)
        # probabilities on either side of 0.5 (0.5 itself is inside)
        prob = np.where(
            binary, rng.choice([0.5, 0.7, 0.99], binary.shape), rng.random(binary.shape) * 0.49
        )
        gt = np.asarray(gt_masks, bool).reshape(-1, h, w)
        target = {
            "boxes": torch.tensor([_box_of(m) for m in gt], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "ignore": torch.from_numpy(crowd),
            "masks": torch.from_numpy(gt.astype(np.uint8)),
            "image_id": 7 * i + 2,
            "orig_size": (h, w),
        }
        pred = {
            "boxes": torch.tensor([_box_of(m) for m in binary], dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(np.round(scores, 1), dtype=torch.float32),
            "labels": torch.tensor(det_labels, dtype=torch.int64),
            "masks": torch.from_numpy(prob).float()[:, None],
        }
        case.append((pred, target))
    return case


def _rle(mask: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def reference_json(case: list) -> tuple[dict, list[dict]]:
    """The COCO dataset and segm results of ``case``, written directly with pycocotools."""
    images, anns, results = [], [], []
    for pred, target in case:
        h, w = target["orig_size"]
        image_id = int(target["image_id"])
        images.append({"id": image_id, "height": h, "width": w})
        for mask, label, crowd in zip(
            target["masks"].numpy(),
            target["labels"].tolist(),
            target["ignore"].tolist(),
            strict=True,
        ):
            rle = _rle(mask)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)),
                    "bbox": list(mask_utils.toBbox(rle)),
                    "iscrowd": int(crowd),
                }
            )
        binary = pred["masks"][:, 0].numpy() >= 0.5
        for mask, label, score in zip(
            binary, pred["labels"].tolist(), pred["scores"].tolist(), strict=True
        ):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": label + 1,
                    "segmentation": _rle(mask),
                    "score": score,
                }
            )
    categories = [{"id": c + 1, "name": str(c)} for c in range(N_CLASSES)]
    return {"images": images, "annotations": anns, "categories": categories}, results


def run_metric(case: list, metric: CocoMetric, batch: int = 5, prepare: bool = True) -> dict:
    metric.reset()
    for start in range(0, len(case), batch):
        preds = [p for p, _ in case[start : start + batch]]
        targets = [t for _, t in case[start : start + batch]]
        if prepare:
            preds, targets = metric.prepare(preds, targets)
        metric.update(preds, targets)
    return metric.compute()


CLASSES = [str(c) for c in range(N_CLASSES)]


@pytest.mark.parametrize("backend", ["vectorized", "pycocotools"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segm_equals_cocoeval(seed, backend):
    case = make_case(seed)
    dataset, results = reference_json(case)
    ref = _pycocotools(dataset, results, (1, 10, 100), "segm")
    metric = CocoMetric(classes=CLASSES, iou_type="segm", backend=backend)
    ours = run_metric(case, metric)
    assert list(ours) == ["segm_" + k for k in CocoMetric(classes=CLASSES).keys()]
    assert list(ours.values()) == ref.stats.tolist()
    assert max(ref.stats) > 0.05  # a case with real matches, not all -1 or 0


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_vectorized_equals_cocoeval_arrays(seed):
    """The array backend against COCOeval(iouType="segm"): stats, precision, recall."""
    case = make_case(seed, n_images=10, p_crowd=0.3)
    dataset, results = reference_json(case)
    ref = _pycocotools(dataset, results, (1, 10, 100), "segm")
    gt = Boxes(
        np.array([a["image_id"] for a in dataset["annotations"]], np.int64),
        np.array([a["category_id"] for a in dataset["annotations"]], np.int64),
        np.zeros((len(dataset["annotations"]), 4)),
        np.array([a["iscrowd"] for a in dataset["annotations"]], bool),
    )
    dt = Boxes(
        np.array([r["image_id"] for r in results], np.int64),
        np.array([r["category_id"] for r in results], np.int64),
        np.zeros((len(results), 4)),
        np.array([r["score"] for r in results], np.float64),
    )
    masks = (
        [a["segmentation"] for a in dataset["annotations"]],
        [r["segmentation"] for r in results],
    )
    ours = run_cocoeval(
        dataset["images"], dataset["categories"], gt, dt, (1, 10, 100), "vectorized", masks
    )
    assert ours.stats.tolist() == ref.stats.tolist()
    assert np.array_equal(ours.precision, ref.precision)
    assert np.array_equal(ours.recall, ref.recall)
    assert ours.table == ref.table


def test_both_types_in_one_pass_equal_each_alone(tmp_path):
    case = make_case(7)
    both = CocoMetric(
        classes=CLASSES, iou_type=["bbox", "segm"], outfile_prefix=str(tmp_path / "r")
    )
    values = run_metric(case, both)
    boxes = run_metric(case, CocoMetric(classes=CLASSES))
    masks = run_metric(case, CocoMetric(classes=CLASSES, iou_type="segm"))
    assert values == {**boxes, **masks}
    assert list(values)[:3] == ["mAP", "AP50", "AP75"] and "segm_mAP" in values
    # the results files: COCO's formats, and COCOeval on them gives the same numbers
    dataset, _ = reference_json(case)
    segm = json.loads((tmp_path / "r.segm.json").read_text())
    assert set(segm[0]) == {"image_id", "category_id", "segmentation", "score"}
    assert set(segm[0]["segmentation"]) == {"size", "counts"}
    assert _pycocotools(dataset, segm, (1, 10, 100), "segm").stats.tolist() == list(masks.values())
    bbox = json.loads((tmp_path / "r.bbox.json").read_text())
    assert set(bbox[0]) == {"image_id", "category_id", "bbox", "score"}
    # per class: box columns and mask columns; a mask row equals COCOeval on that class
    rows = both.per_class()
    assert set(rows[0]) == {
        "class",
        "num_gt",
        "AP",
        "AP50",
        "AP75",
        "segm_AP",
        "segm_AP50",
        "segm_AP75",
    }
    for label, row in enumerate(rows):
        coco_gt = coco_from_dict(dataset)
        from pycocotools.cocoeval import COCOeval

        coco_eval = COCOeval(coco_gt, coco_gt.loadRes([dict(r) for r in segm]), "segm")
        coco_eval.params.catIds = [label + 1]
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
        assert [row["segm_AP"], row["segm_AP50"], row["segm_AP75"]] == coco_eval.stats[:3].tolist()
    assert "iou_type segm" in both.summary and "segm_AP50" in both.summary


def test_prepare_makes_rle_and_leaves_the_inputs_alone():
    case = make_case(8, n_images=5, many=False)
    preds = [p for p, _ in case]
    targets = [t for _, t in case]
    metric = CocoMetric(classes=CLASSES, iou_type=["segm"])
    small_preds, small_targets = metric.prepare(preds, targets)
    assert all("masks" in p for p in preds) and all("masks" in t for t in targets)
    assert not any("masks" in p or "box_masks" in p for p in small_preds)
    assert not any("masks" in t for t in small_targets)
    assert all(len(p["masks_rle"]) == len(p["boxes"]) for p in small_preds)
    # prepared or dense, the same numbers
    assert run_metric(case, metric, prepare=True) == run_metric(case, metric, prepare=False)
    # a box metric drops the masks
    box_preds, box_targets = CocoMetric(classes=CLASSES).prepare(preds, targets)
    assert not any("masks" in p or "masks_rle" in p for p in box_preds)
    assert not any("masks" in t or "masks_rle" in t for t in box_targets)


def test_box_masks_are_pasted_at_the_boxes():
    """``box_masks`` (Mask R-CNN with paste: false) give the numbers of the same masks pasted
    into the image (``masks``)."""
    from detplug_torchvision.masks import paste_masks

    rng = np.random.default_rng(9)
    case = []
    for i in range(4):
        boxes = torch.tensor(
            [[2.0, 3.0, 20.5, 17.0], [10.0, 1.0, 30.0, 28.0], [0.0, 0.0, 31.0, 31.0]]
        )
        grids = torch.from_numpy(rng.random((3, 1, 7, 7))).float()
        pred = {
            "boxes": boxes,
            "scores": torch.tensor([0.9, 0.5, 0.3]),
            "labels": torch.tensor([0, 1, 0]),
        }
        # the first detection's mask exactly, the second one's complement
        gt_grids = torch.cat([grids[:1], 1 - grids[1:2]])
        gt_masks = paste_masks(gt_grids, boxes[:2], (32, 32))
        target = {
            "boxes": boxes[:2],
            "labels": torch.tensor([0, 1]),
            "masks": (gt_masks[:, 0] >= 0.5).to(torch.uint8),
            "image_id": i,
            "orig_size": (32, 32),
        }
        case.append(
            (
                {**pred, "box_masks": grids},
                {**pred, "masks": paste_masks(grids, boxes, (32, 32))},
                target,
            )
        )
    metric = CocoMetric(classes=["a", "b"], iou_type="segm")
    as_grids = run_metric([(g, t) for g, _, t in case], metric)
    as_pasted = run_metric([(p, t) for _, p, t in case], metric)
    assert as_grids == as_pasted and as_grids["segm_mAP"] > 0


def test_missing_masks_are_named():
    case = make_case(10, n_images=2, many=False)
    pred, target = case[0]
    metric = CocoMetric(classes=CLASSES, iou_type="segm")
    no_gt = {k: v for k, v in target.items() if k != "masks"}
    with pytest.raises(DataError, match="with_masks: true"):
        metric.prepare([pred], [no_gt])
    no_dt = {k: v for k, v in pred.items() if k != "masks"}
    with pytest.raises(ConfigError, match="'masks' .* or 'box_masks'.*iou_type: bbox"):
        metric.update([no_dt], [target])
    wrong = {**target, "masks": target["masks"][:, :-1]}
    with pytest.raises(ValueError, match="orig_size"):
        metric.update([pred], [wrong])


def test_no_detections_and_no_images():
    case = make_case(11, n_images=4, many=False)
    empty = {
        "boxes": torch.zeros(0, 4),
        "scores": torch.zeros(0),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, 1, 1, 1),
    }
    no_dets = [(empty, t) for _, t in case]
    dataset, _ = reference_json(no_dets)
    ref = _pycocotools(dataset, [], (1, 10, 100), "segm")
    for backend in ("vectorized", "pycocotools"):
        metric = CocoMetric(classes=CLASSES, iou_type="segm", backend=backend)
        assert list(run_metric(no_dets, metric).values()) == ref.stats.tolist()
    metric = CocoMetric(classes=CLASSES, iou_type=["bbox", "segm"])
    assert set(metric.compute().values()) == {-1.0}
    assert set(metric.per_class()[0]) >= {"segm_AP", "AP"}
