"""Mask R-CNN through ``detplug train`` on detplug-shapes with masks: the packaged shapes
recipe, shortened to a few iterations on 4 images of 96 px, in a fresh process on the CPU.
The runner logs ``loss_mask`` with the other losses and evaluates boxes and masks (COCO bbox
and segm) on validation images loaded with their masks. (Learning is checked by
test_mask_rcnn_shapes.py; the recipe's full curve is in docs/benchmarks.md.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from detplug_torchvision.testing.recipes import assert_recipe_loads

CONFIG = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"
SHORT = [
    "+train_dataloader.dataset.num_images=4",
    "train_dataloader.dataset.image_size=96",
    "+val_dataloader.dataset.num_images=4",
    "val_dataloader.dataset.image_size=96",
    "train_dataloader.batch_size=2",
    "train_dataloader.num_workers=0",
    "train_dataloader.persistent_workers=false",
    "val_dataloader.num_workers=0",
    "val_dataloader.persistent_workers=false",
    "imgsz=96",
    "train.max_iters=4",
    "train.val_interval=4",
    "train.log_interval=2",
    "checkpoint.interval=0",
    "checkpoint.save_best=null",
]


def test_shapes_recipe_loads_with_masks():
    cfg = assert_recipe_loads(CONFIG, "mask_rcnn.MaskRCNN", "roi_head", "auto")
    assert cfg["train_dataloader"]["dataset"]["with_masks"] is True
    assert cfg["val_dataloader"]["dataset"]["with_masks"] is True
    assert cfg["metrics"][0]["iou_type"] == ["bbox", "segm"]
    assert cfg["checkpoint"]["save_best"] == "coco/segm_mAP"


@pytest.mark.slow
def test_detplug_train_runs_the_mask_recipe(tmp_path):
    work = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETPLUG_")}
    env["DETPLUG_CACHE"] = str(tmp_path / "cache")
    command = [sys.executable, "-m", "detplug_core.cli.main", "train", CONFIG, *SHORT]
    res = subprocess.run(
        [*command, "--work-dir", str(work), "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    scalars = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    logged = [s for s in scalars if s.get("mode") == "train"]
    assert logged and all(s["loss_mask"] > 0 for s in logged), logged
    metrics = json.loads((work / "metrics.jsonl").read_text().splitlines()[-1])
    assert "coco/mAP" in metrics and "coco/segm_mAP" in metrics, metrics
    assert 0 <= metrics["coco/segm_mAP"] <= 1, metrics
