"""BCCD in three formats: scripts/voc_to_yolo_coco.py converts the VOC original to the YOLO
layout and to COCO JSON; all three load the same boxes (within 1e-3 px: YOLO stores
normalised decimals), the same class names, and give identical metric values for the same
predictions. The formats are found the way users give them: ``--data`` detection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from detplug_core.data.source import find_data_source
from detplug_core.registry import DATASETS, METRICS

ROOT = Path(__file__).parents[2]
BCCD = ROOT.parent / "shared" / "data" / "BCCD"
CLASSES = ["RBC", "WBC", "Platelets"]

pytestmark = pytest.mark.skipif(not BCCD.is_dir(), reason="../shared/data/BCCD is not here")


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bccd")
    script = ROOT / "scripts" / "voc_to_yolo_coco.py"
    res = subprocess.run(
        [sys.executable, str(script), str(BCCD), str(out), "--classes", *CLASSES],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out


def val_sets(out: Path) -> dict:
    """The val split of each format, built from the split config ``--data`` would use."""
    voc = DATASETS.build(
        {"type": "voc.VOCDataset", "data_root": str(BCCD), "split": "test", "classes": CLASSES}
    )
    sets = {"voc": voc}
    for fmt, path in (("yolo", out / "yolo" / "data.yaml"),
                      ("coco", out / "coco" / "annotations" / "instances_train.json")):  # fmt: skip
        source = find_data_source(str(path))
        assert source.format == fmt and source.classes == CLASSES
        sets[fmt] = DATASETS.build(source.splits["val"])
    return sets


def by_stem(dataset) -> dict:
    return {Path(r.path).stem: r for r in dataset.records}


def test_same_classes_images_and_boxes(converted):
    sets = val_sets(converted)
    reference = by_stem(sets["voc"])
    assert len(reference) == 72
    for fmt in ("yolo", "coco"):
        assert sets[fmt].classes == CLASSES
        records = by_stem(sets[fmt])
        assert records.keys() == reference.keys(), fmt
        worst = 0.0
        for stem, ref in reference.items():
            rec = records[stem]
            assert (rec.height, rec.width) == (ref.height, ref.width)
            assert rec.labels.tolist() == ref.labels.tolist(), (fmt, stem)
            worst = max(worst, float(np.abs(rec.boxes - ref.boxes).max(initial=0.0)))
        assert worst < 1e-3, (fmt, worst)


def predictions(record, rng) -> dict:
    """The ground truth moved by a few pixels, with random scores, plus a false positive."""
    boxes = torch.tensor(record.boxes) + torch.tensor(rng.normal(0, 3, record.boxes.shape))
    boxes = torch.cat([boxes, torch.tensor([[10.0, 10.0, 60.0, 60.0]])]).float()
    labels = torch.cat([torch.tensor(record.labels), torch.tensor([0])])
    return {
        "boxes": boxes,
        "scores": torch.tensor(rng.random(len(boxes))).float(),
        "labels": labels,
    }


def target(record) -> dict:
    """The target ``load_raw`` returns (without decoding the image); the image id is the
    number in the file name, the same in every format."""
    return {
        "boxes": torch.tensor(record.boxes),
        "labels": torch.tensor(record.labels),
        "ignore": torch.tensor(record.ignore),
        "image_id": int(Path(record.path).stem.rsplit("_", 1)[1]),
        "orig_size": (record.height, record.width),
    }


def test_same_metric_values_for_the_same_predictions(converted):
    sets = val_sets(converted)
    reference = by_stem(sets["voc"])
    rng = np.random.default_rng(0)
    preds = {stem: predictions(reference[stem], rng) for stem in sorted(reference)}
    results = {}
    for fmt, dataset in sets.items():
        metrics = [
            METRICS.build({"type": t}, classes=dataset.classes) for t in ("CocoMetric", "VOCMetric")
        ]
        records = by_stem(dataset)
        for stem in sorted(records):
            for metric in metrics:
                metric.update([preds[stem]], [target(records[stem])])
        results[fmt] = [m.compute() for m in metrics]
    assert results["voc"][0]["mAP"] > 0.3  # a real, non-trivial evaluation
    assert results["yolo"] == results["voc"]
    assert results["coco"] == results["voc"]
