"""End to end through the CLI: ``detplug train RECIPE --data data.yaml``, then ``detplug
test`` on the checkpoint; and the class-count mismatch as exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from yolo_fixtures import simple_dataset

ROOT = Path(__file__).resolve().parents[3]
RECIPE = "fcos::fcos_r18_fpn_shapes.yaml"  # packaged: the wheel ships it
SHORT = [
    "train.max_iters=6", "train.val_interval=6", "train.log_interval=3", "checkpoint.interval=6",
    "param_schedulers.0.end=2", "train_dataloader.batch_size=4", "train_dataloader.num_workers=0",
    "val_dataloader.num_workers=0",
]  # fmt: skip


def detplug(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DETPLUG_PROGRESS": "lines", "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.slow
def test_train_from_a_yolo_folder_then_test(tmp_path):
    data = simple_dataset(tmp_path / "pets", n_train=8, n_val=4)
    work = tmp_path / "work"
    res = detplug("train", str(RECIPE), "--data", str(data), "--work-dir", str(work), *SHORT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    saved = yaml.safe_load((work / "config.yaml").read_text())
    assert saved["model"]["head"]["num_classes"] == 2  # auto, from data.yaml's names
    assert saved["data"]["format"] == "yolo" and saved["data"]["classes"] == ["circle", "square"]
    assert saved["train_dataloader"]["dataset"]["type"] == "yolo.YoloDataset"
    assert saved["val_dataloader"]["dataset"]["split"] == "val"
    assert (work / "labels.png").stat().st_size > 10_000
    ckpt = torch.load(work / "latest.pth", weights_only=True, map_location="cpu")
    assert ckpt["meta"]["classes"] == ["circle", "square"]
    assert "coco/mAP" in (work / "metrics.jsonl").read_text()
    res = detplug("test", str(work / "latest.pth"), "--out", str(tmp_path / "test.json"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "circle" in res.stdout and "square" in res.stdout and "coco/mAP" in res.stdout
    other = simple_dataset(tmp_path / "more_pets", n_train=2, n_val=3, seed=1)
    res = detplug("test", str(work / "latest.pth"), "--data", str(other))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Test [3 images]" in res.stdout + res.stderr


def test_a_fixed_class_count_that_disagrees_is_exit_2(tmp_path):
    data = simple_dataset(tmp_path / "pets", n_train=2, n_val=1)
    res = detplug(
        "train", str(RECIPE), "--data", str(data), "--work-dir", str(tmp_path / "w"),
        "model.head.num_classes=5",
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "model.head.num_classes is 5 but the data" in res.stderr
    assert "has 2 classes (circle, square)" in res.stderr
    assert "Traceback" not in res.stderr


def test_data_that_no_plugin_reads_is_exit_2(tmp_path):
    (tmp_path / "notes.yaml").write_text("hello: world\n")
    res = detplug("train", str(RECIPE), "--data", str(tmp_path / "notes.yaml"))
    assert res.returncode == 2
    assert "is not a data set any installed plugin recognises" in res.stderr
