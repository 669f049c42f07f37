"""End to end: ``detplug train mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml --data JSON`` on a
user's COCO files with polygons (written here: 64 x 64 images): ``--data`` keeps the
recipe's ``with_masks: true``, so the Mask R-CNN trains its mask branch on the file's
polygons (``loss_mask`` logged) for 2 iterations and evaluates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

RECIPE = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"
SHORT = [
    "train.max_iters=2", "train.val_interval=2", "train.log_interval=1",
    "param_schedulers.0.end=2", "train_dataloader.batch_size=2",
    "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=false",
    "val_dataloader.num_workers=0", "val_dataloader.persistent_workers=false",
    "checkpoint.interval=0", "checkpoint.save_best=null",
]  # fmt: skip


def write_split(root, split: str, n: int, rng) -> None:
    images, anns = [], []
    for i in range(n):
        picture = Image.fromarray(rng.integers(0, 60, (64, 64, 3), dtype=np.uint8))
        draw = ImageDraw.Draw(picture)
        for k in range(2):
            x, y = (float(v) for v in rng.uniform(4, 36, 2).round(1))
            s = float(rng.uniform(12, 24))
            polygon = [x, y, x + s, y + s / 3, x + s / 2, y + s]  # a triangle
            draw.polygon(polygon, fill=(200, 40 + 150 * k, 30))
            xs, ys = polygon[0::2], polygon[1::2]
            box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1 + k,
                         "bbox": box, "segmentation": [polygon], "iscrowd": 0,
                         "area": box[2] * box[3] / 2})  # fmt: skip
        picture.save(root / "images" / f"{split}_{i}.jpg", quality=95)
        images.append({"id": i + 1, "file_name": f"{split}_{i}.jpg", "height": 64, "width": 64})
    cats = [{"id": 1, "name": "leaf"}, {"id": 2, "name": "stem"}]
    data = {"images": images, "annotations": anns, "categories": cats}
    (root / f"instances_{split}.json").write_text(json.dumps(data))


@pytest.mark.slow
def test_mask_recipe_trains_on_a_users_coco_polygons(tmp_path):
    root = tmp_path / "plants"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_split(root, "train", 4, rng)
    write_split(root, "val", 2, rng)
    work = tmp_path / "work"
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "train", RECIPE,
         "--data", str(root / "instances_train.json"), "--imgsz", "64",
         "--work-dir", str(work), "--device", "cpu", *SHORT],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DETPLUG_PROGRESS": "lines", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    saved = yaml.safe_load((work / "config.yaml").read_text())
    dataset = saved["train_dataloader"]["dataset"]
    while "dataset" in dataset:  # through wrappers
        dataset = dataset["dataset"]
    assert dataset["type"] == "coco.CocoDataset" and dataset["with_masks"] is True
    assert saved["data"]["classes"] == ["leaf", "stem"]
    scalars = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    losses = [s["loss_mask"] for s in scalars if s.get("mode") == "train"]
    assert len(losses) == 2 and all(v > 0 for v in losses), scalars
    evals = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert evals and "coco/mAP" in evals[-1]
