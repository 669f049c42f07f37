"""EvalPlotsHook: PR curves and confusion matrix after validation and test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from detplug_hooks.plots.matching import MatchAccumulator, average_precision
from PIL import Image

from detplug_core import Runner
from detplug_core.errors import BuildError


def _image(acc: MatchAccumulator) -> None:
    target = {
        "boxes": torch.tensor(
            [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70.0]]
        ),
        "labels": torch.tensor([0, 1, 0, 1]),
        "ignore": torch.tensor([False, False, True, False]),
    }
    pred = {
        "boxes": torch.tensor(
            [
                [0, 0, 10, 10],  # class 0, right
                [20, 20, 30, 31],  # class 1 box called class 0
                [80, 80, 90, 90],  # class 1 on background
                [40, 40, 50, 50],  # on the ignored box: counts neither way
                [1, 1, 10, 10],  # a duplicate of the first, below the score threshold
            ],
            dtype=torch.float32,
        ),
        "scores": torch.tensor([0.9, 0.8, 0.7, 0.6, 0.1]),
        "labels": torch.tensor([0, 0, 1, 0, 0]),
    }
    acc.add(pred, target)


def test_matching_gives_confusion_with_background_and_pr_points():
    acc = MatchAccumulator(2, iou_thr=0.5, score_thr=0.25)
    _image(acc)
    # rows: true 0, true 1, background; columns: predicted 0, 1, background
    assert acc.confusion.tolist() == [[1, 0, 0], [1, 0, 1], [0, 1, 0]]
    assert acc.num_gt.tolist() == [1, 2]
    assert acc.true_positive[0] == [True, False, False]  # 0.9 hit, 0.8 wrong box, dup 0.1
    recall, precision, ap = acc.pr_curve(0)
    assert recall.tolist() == [1.0, 1.0, 1.0] and ap == pytest.approx(1.0)
    assert acc.pr_curve(1)[2] == 0.0  # one false positive, nothing found
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)


def test_labels_out_of_range_are_named():
    acc = MatchAccumulator(2)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    with pytest.raises(ValueError, match="prediction labels must be in 0..1"):
        acc.add(
            {"boxes": torch.zeros(1, 4), "scores": torch.ones(1), "labels": torch.tensor([2])},
            empty,
        )


def test_val_and_test_write_pictures_and_numbers_next_to_the_metrics(kit, tmp_path):
    cfg = kit.tiny_config(tmp_path, [{"type": "EvalPlotsHook", "score_thr": 0.0}])
    with Runner(cfg) as runner:
        runner.train()
        runner.test()
    for mode in ("val", "test"):
        for name in (f"{mode}_pr_curve.png", f"{mode}_confusion_matrix.png"):
            assert Image.open(tmp_path / name).size[0] > 300
        numbers = json.loads((tmp_path / f"{mode}_confusion_matrix.json").read_text())
        assert numbers["classes"] == ["square", "blob", "background"]
        matrix = np.array(numbers["matrix"])
        # 4 val images, one box and one detection each: every box and every detection is
        # counted once (a pair, or a miss plus a background detection).
        assert matrix[:2].sum() == 4 and matrix[:, :2].sum() == 4
        assert numbers["iter"] == 6 and numbers["score_thr"] == 0.0
    assert (tmp_path / "metrics.jsonl").exists()


def test_arguments_are_checked(kit, tmp_path):
    cfg = kit.tiny_config(tmp_path, [{"type": "EvalPlotsHook", "iou_thr": 0}])
    with pytest.raises(BuildError, match="iou_thr"):
        kit.run_training(cfg)


def test_pr_curves_give_the_voc_metrics_area_ap():
    """Same predictions, same rule: the curves' AP is VOCMetric's (area) per-class AP."""
    voc = pytest.importorskip("detplug_voc.metric")
    g = torch.Generator().manual_seed(0)
    preds, targets = [], []
    for i in range(20):
        xy = torch.rand(6, 2, generator=g) * 80
        gt = torch.cat([xy, xy + 10 + torch.rand(6, 2, generator=g) * 20], dim=1)
        jitter = gt + torch.randn(6, 4, generator=g) * 4
        extra = torch.cat([xy + 30, xy + 45], dim=1)[:3]
        targets.append(
            {
                "boxes": gt,
                "labels": torch.randint(0, 3, (6,), generator=g),
                "ignore": torch.rand(6, generator=g) < 0.15,
                "image_id": i,
            }
        )
        preds.append(
            {
                "boxes": torch.cat([jitter, extra]),
                "scores": torch.rand(9, generator=g),
                "labels": torch.randint(0, 3, (9,), generator=g),
            }
        )
    metric = voc.VOCMetric(classes=["a", "b", "c"], ap_method="area")
    metric.reset()
    metric.update(preds, targets)
    expected = metric.compute()["mAP"]
    acc = MatchAccumulator(3, iou_thr=0.5)
    for pred, target in zip(preds, targets, strict=True):
        acc.add(pred, target)
    assert np.mean([acc.pr_curve(c)[2] for c in range(3)]) == pytest.approx(expected, abs=1e-9)


def test_box_iou_agrees_with_torchvision():
    ops = pytest.importorskip("torchvision.ops")
    from detplug_hooks.plots.matching import box_iou

    g = torch.Generator().manual_seed(0)
    a = torch.rand(7, 4, generator=g) * 50
    b = torch.rand(5, 4, generator=g) * 50
    a[:, 2:] += a[:, :2]
    b[:, 2:] += b[:, :2]
    assert torch.allclose(box_iou(a, b), ops.box_iou(a, b), atol=1e-6)
