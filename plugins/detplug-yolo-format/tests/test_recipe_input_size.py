"""Recipes fit the photos (issue 26, wall 2): every shipped recipe that trains on data
resizes in its pipelines, ``--imgsz`` sets the recipe's size (or is refused by name), and
photos much larger than the trained size give one warning before training."""

from __future__ import annotations

from pathlib import Path

import pytest
from detplug_hooks.data_stats import parsed_leaves
from detplug_hooks.photo_size import photo_size_warning
from yolo_fixtures import write_data_yaml, write_image, write_labels

from detplug_core.config import load_config
from detplug_core.data.input_size import imgsz_overrides
from detplug_core.data.samplers import SeededDataset
from detplug_core.data.source import apply_data_source, find_data_source
from detplug_core.errors import ConfigError
from detplug_core.registry import DATASETS

RECIPES = [
    "fcos::fcos_r18_fpn_shapes.yaml", "fcos::fcos_r18_fpn_bccd.yaml",
    "fcos::fcos_r50_fpn_1x_coco.yaml", "retinanet::retinanet_r18_fpn_shapes.yaml",
    "retinanet::retinanet_r50_fpn_1x_coco.yaml", "faster_rcnn::faster_rcnn_r18_fpn_shapes.yaml",
    "faster_rcnn::faster_rcnn_r50_fpn_1x_coco.yaml",
    "faster_rcnn::faster_rcnn_r50_fpn_1x_voc0712.yaml", "rtmdet::rtmdet_tiny_shapes.yaml",
    "rtmdet::rtmdet_tiny_8xb32-300e_coco.yaml",
]  # fmt: skip
SIZING = {"ResizeShortLong", "Resize", "RandomScale", "Mosaic"}


def pipeline_types(dataset: dict) -> set[str]:
    found = {str(t["type"]).rpartition(".")[2] for t in dataset.get("transforms") or []}
    for inner in [dataset.get("dataset"), *(dataset.get("datasets") or [])]:
        if isinstance(inner, dict):
            found |= pipeline_types(inner)
    return found


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_that_trains_on_data_resizes(recipe):
    cfg = load_config(recipe)
    for section in ("train_dataloader", "val_dataloader"):
        assert pipeline_types(cfg[section]["dataset"]) & SIZING, f"{recipe} {section}"


def test_imgsz_sets_the_recipes_size_or_is_refused_by_name():
    recipe = "fcos::fcos_r18_fpn_shapes.yaml"
    cfg = load_config(recipe, list(imgsz_overrides(recipe, (), 320)))
    resize = cfg["train_dataloader"]["dataset"]["transforms"][0]
    assert resize == {"type": "torchvision.ResizeShortLong", "short": 320, "long": 320}
    assert cfg["val_dataloader"]["dataset"]["transforms"][0]["long"] == 320
    with pytest.raises(ConfigError, match=r"--imgsz: fcos::fcos_r18_fpn_bccd\.yaml has no "
                       r"top-level 'imgsz' key"):  # fmt: skip
        imgsz_overrides("fcos::fcos_r18_fpn_bccd.yaml", (), 320)


def photos(root: Path, width: int, height: int) -> Path:
    for i in range(2):
        write_image(root / "images" / "train" / f"p{i}.jpg", width, height, seed=i)
        write_labels(root / "labels" / "train" / f"p{i}.txt", ["0 0.5 0.5 0.2 0.2"])
    return write_data_yaml(root, train="images/train", val="images/train")


def built_train(data: Path):
    recipe = "fcos::fcos_r18_fpn_shapes.yaml"
    cfg = load_config(recipe)
    apply_data_source(cfg, find_data_source(str(data)))
    return DATASETS.build(cfg["train_dataloader"]["dataset"])


def test_photos_much_larger_than_the_recipe_are_resized_with_one_warning(tmp_path):
    ds = built_train(photos(tmp_path / "big", 800, 600))
    image, target = ds[0]
    assert tuple(image.shape[-2:]) == (96, 128)  # the recipe's 128 px, not 800x600
    warning = photo_size_warning(ds, parsed_leaves(ds))
    assert "long side 800 px (median; up to 800) resized to 128 px, 6x smaller" in warning
    assert "--imgsz N" in warning
    seeded = SeededDataset(ds)  # as the runner wraps it for its workers
    assert photo_size_warning(seeded, parsed_leaves(seeded)) == warning
    small = built_train(photos(tmp_path / "small", 160, 120))
    assert photo_size_warning(small, parsed_leaves(small)) is None
