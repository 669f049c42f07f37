"""Faster R-CNN learns through ``detplug train`` on detplug-shapes (a CI-sized run, CPU).

faster_rcnn::faster_rcnn_r18_fpn_shapes.yaml, shrunk to 8 training images of 96 px and 30
epochs of 2 iterations, is trained in a fresh ``detplug`` process; it is then evaluated on
those same 8 images (the run checks that the whole path learns, not generalisation), and
the COCO AP@0.5 the runner logs must be well above chance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CONFIG = "faster_rcnn::faster_rcnn_r18_fpn_shapes.yaml"

OVERRIDES = """
_base_: {base}
train_dataloader:
  batch_size: 4
  num_workers: 0
  persistent_workers: false
  dataset: {{num_images: 8, image_size: 96, cache_dir: {cache}, transforms: [{{type: ToFloatImage}}]}}
val_dataloader:
  batch_size: 8
  num_workers: 0
  persistent_workers: false
  dataset: {{split: train, num_images: 8, image_size: 96, cache_dir: {cache}}}
optimizer: {{lr: 0.002}}
param_schedulers:
  - {{type: LinearWarmup, start_factor: 0.001, end: 20, by_epoch: false}}
  - {{type: MultiStep, milestones: [24], gamma: 0.1, by_epoch: true}}
train: {{max_epochs: 30, val_interval: 30, log_interval: 10}}
checkpoint: {{interval: 0, keep_last: 1, save_best: null}}
"""


@pytest.mark.slow
def test_detplug_train_reaches_a_clear_map(tmp_path):
    config = tmp_path / "faster_rcnn_ci.yaml"
    config.write_text(OVERRIDES.format(base=CONFIG, cache=tmp_path / "cache"))
    work_dir = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETPLUG_")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "detplug_core.cli.main",
            "train",
            str(config),
            "--work-dir",
            str(work_dir),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    losses = [json.loads(line) for line in (work_dir / "scalars.jsonl").read_text().splitlines()]
    assert losses[-1]["loss"] < 0.5 * losses[0]["loss"]
    metrics = json.loads((work_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert metrics["coco/AP50"] > 0.6, metrics
    assert metrics["coco/mAP"] > 0.3, metrics
