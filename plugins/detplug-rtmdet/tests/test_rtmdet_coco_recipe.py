"""The paper's COCO recipe runs as shipped (mosaic + mixup at 640, the switch to the plain
pipeline for the last epochs, EMA, evaluation), on a tiny COCO-layout folder for 2 epochs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow


def _tiny_coco(root: Path, images: int = 4) -> None:
    rnd = random.Random(0)
    (root / "annotations").mkdir(parents=True)
    for split in ("train2017", "val2017"):
        (root / split).mkdir()
        imgs, anns = [], []
        for i in range(images):
            w, h = rnd.choice([(160, 120), (120, 160), (200, 150)])
            image = Image.new("RGB", (w, h), (rnd.randrange(255),) * 3)
            draw = ImageDraw.Draw(image)
            for _ in range(3):
                x, y = rnd.randrange(0, w - 40), rnd.randrange(0, h - 40)
                bw, bh = rnd.randrange(15, 40), rnd.randrange(15, 40)
                draw.rectangle([x, y, x + bw, y + bh], fill=(200, 50, 50))
                anns.append(
                    {"id": len(anns) + 1, "image_id": i + 1, "category_id": rnd.randrange(1, 4),
                     "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0}
                )  # fmt: skip
            image.save(root / split / f"{i}.jpg")
            imgs.append({"id": i + 1, "file_name": f"{i}.jpg", "width": w, "height": h})
        cats = [{"id": k + 1, "name": n} for k, n in enumerate(["a", "b", "c"])]
        data = {"images": imgs, "annotations": anns, "categories": cats}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))


def test_the_coco_recipe_trains_across_the_switch(tmp_path: Path) -> None:
    _tiny_coco(tmp_path / "coco")
    work = tmp_path / "work"
    res = subprocess.run(
        [sys.executable, "-m", "detplug_core.cli.main", "train",
         "rtmdet::rtmdet_tiny_8xb32-300e_coco.yaml", "data_root=coco",
         "train.max_epochs=2", "hooks.0.last_epochs=1", "train.val_interval=2",
         "train_dataloader.batch_size=2", "train_dataloader.num_workers=0",
         "train_dataloader.persistent_workers=false", "val_dataloader.num_workers=0",
         "--work-dir", str(work)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    log = (work / "log.txt").read_text()
    assert "PipelineSwitchHook: epoch 2 (iteration 3) on" in log
    assert "Epoch(val) [2]" in log and (work / "epoch_2.pth").is_file()
