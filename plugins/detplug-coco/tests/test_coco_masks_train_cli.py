"""End to end: ``detplug train mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml --data JSON`` on a
user's COCO files with polygons (written here: 64 x 64 images): ``--data`` keeps the
recipe's ``with_masks: true``, so the Mask R-CNN trains its mask branch on the file's
polygons (``loss_mask`` logged) for 2 iterations and evaluates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from detplug_torchvision.testing.recipes import train_two_iterations
from PIL import Image, ImageDraw

RECIPE = "mask_rcnn::mask_rcnn_r18_fpn_shapes.yaml"


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
    train, last = train_two_iterations(
        RECIPE, root / "instances_train.json", work, "param_schedulers.0.end=2"
    )
    saved = yaml.safe_load((work / "config.yaml").read_text())
    dataset = saved["train_dataloader"]["dataset"]
    while "dataset" in dataset:  # through wrappers
        dataset = dataset["dataset"]
    assert dataset["type"] == "coco.CocoDataset" and dataset["with_masks"] is True
    assert saved["data"]["classes"] == ["leaf", "stem"]
    losses = [s["loss_mask"] for s in train]
    assert len(losses) == 2 and all(v > 0 for v in losses), train
    assert "coco/mAP" in last
