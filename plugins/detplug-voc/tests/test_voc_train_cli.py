"""End to end: ``detplug train RECIPE --data FOLDER`` on a VOC folder without ImageSets (all
XML files in one folder, images in another), then evaluation of the checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
RECIPE = "fcos::fcos_r18_fpn_shapes.yaml"  # packaged: the wheel ships it
SHORT = [
    "train.max_iters=6", "train.val_interval=6", "train.log_interval=3", "checkpoint.interval=6",
    "param_schedulers.0.end=2", "train_dataloader.batch_size=4", "train_dataloader.num_workers=0",
    "val_dataloader.num_workers=0",
]  # fmt: skip


def make_folder(root: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    (root / "annotations").mkdir(parents=True)
    (root / "photos").mkdir()
    for i in range(n):
        pixels = rng.integers(0, 50, (48, 64, 3), dtype=np.uint8)
        objects = ""
        for k in range(1 + i % 2):
            x1, y1 = int(rng.integers(1, 30)), int(rng.integers(1, 20))
            x2, y2 = x1 + int(rng.integers(8, 30)), y1 + int(rng.integers(8, 24))
            pixels[y1 - 1 : y2, x1 - 1 : x2] = (220, 60 + 120 * k, 30)
            name = ("cell", "nucleus")[k]
            objects += (
                f"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
            )
        Image.fromarray(pixels).save(root / "photos" / f"s{i:02d}.jpg", quality=95)
        (root / "annotations" / f"s{i:02d}.xml").write_text(
            f"<annotation><filename>scan_{i}.tif</filename><size><width>64</width>"
            f"<height>48</height></size>{objects}</annotation>"
        )
    return root


@pytest.mark.slow
def test_train_from_a_voc_folder_without_imagesets(tmp_path):
    data = make_folder(tmp_path / "cells")
    work = tmp_path / "work"
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "train", str(RECIPE), "--data", str(data),
         "--work-dir", str(work), *SHORT],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DETPLUG_PROGRESS": "lines", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    saved = yaml.safe_load((work / "config.yaml").read_text())
    assert saved["data"]["format"] == "voc" and saved["data"]["classes"] == ["cell", "nucleus"]
    assert saved["model"]["head"]["num_classes"] == 2
    splits = json.loads((work / "voc_splits.json").read_text())
    assert [(s["split"], len(s["ids"]), s["seed"]) for s in splits] == [
        ("train", 10, 0), ("val", 2, 0)
    ]  # fmt: skip
    assert not set(splits[0]["ids"]) & set(splits[1]["ids"])
    evals = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert evals and "coco/mAP" in evals[-1]
    assert (work / "labels.png").is_file()
