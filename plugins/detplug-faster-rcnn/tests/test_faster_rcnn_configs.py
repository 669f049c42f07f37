"""The plugin's configs load (with their _base_ files) and describe what they claim."""

from __future__ import annotations

import pytest

from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.data.num_classes import resolve_num_classes


def load(name: str, *overrides: str) -> dict:
    return load_config(f"faster_rcnn::{name}", list(overrides))


@pytest.mark.parametrize(
    ("name", "num_classes"),
    [
        ("faster_rcnn_r50_fpn_tv.yaml", 80),
        ("faster_rcnn_r50_fpn_1x_coco.yaml", "auto"),
        ("faster_rcnn_r50_fpn_1x_voc0712.yaml", "auto"),
        ("faster_rcnn_r18_fpn_shapes.yaml", "auto"),
    ],
)
def test_configs_load_with_their_bases(name, num_classes):
    cfg = load(name)
    assert cfg["model"]["type"] == "faster_rcnn.FasterRCNN"
    assert cfg["model"]["roi_head"]["num_classes"] == num_classes
    assert {"val_dataloader", "metrics"} <= set(cfg)
    if not name.endswith("_tv.yaml"):  # the _tv configs are for testing converted weights
        assert {"train_dataloader", "optimizer", "param_schedulers"} <= set(cfg)


def test_tv_config_is_the_torchvision_architecture():
    model = load("faster_rcnn_r50_fpn_tv.yaml")["model"]
    base = load("models/faster_rcnn_r50_fpn.yaml")["model"]
    assert model == base  # the equivalence tests build this one
    assert model["backbone"] == {
        "type": "torchvision.ResNet",
        "depth": 50,
        "out_indices": [1, 2, 3, 4],
        "frozen_stages": 1,
        "norm": "FrozenBN",
        "init": None,
    }
    assert model["neck"]["extra_blocks"] == "pool"


def test_voc0712_is_the_classic_recipe():
    cfg = load("faster_rcnn_r50_fpn_1x_voc0712.yaml")
    train = cfg["train_dataloader"]["dataset"]
    assert train["type"] == "RepeatDataset" and train["times"] == 3
    assert train["dataset"]["type"] == "voc.VOCDataset"
    assert train["dataset"]["data_roots"] == ["data/VOCdevkit/VOC2007", "data/VOCdevkit/VOC2012"]
    assert train["dataset"]["split"] == "trainval"
    assert cfg["val_dataloader"]["dataset"]["split"] == "test"
    assert cfg["train"]["max_epochs"] == 4
    assert cfg["param_schedulers"][-1]["milestones"] == [3]
    assert cfg["metrics"] == [{"type": "voc.VOCMetric", "iou_thr": 0.5, "ap_method": "11points"}]


def test_shapes_model_builds():
    cfg = load("faster_rcnn_r18_fpn_shapes.yaml", "+data.classes=[rectangle,ellipse,triangle]")
    resolve_num_classes(cfg)  # num_classes: auto, here from data.classes (as --data writes it)
    model = MODELS.build(cfg["model"])
    assert model.roi_head.num_classes == 3
