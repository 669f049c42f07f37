"""The plugin's configs load (with their _base_ files) and describe what they claim."""

from __future__ import annotations

import pytest

from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.data.num_classes import resolve_num_classes


def load(name: str, *overrides: str) -> dict:
    return load_config(f"retinanet::{name}", list(overrides))


@pytest.mark.parametrize(
    ("name", "num_classes"),
    [
        ("retinanet_r50_fpn_tv.yaml", 80),
        ("retinanet_r50_fpn_1x_coco.yaml", "auto"),
        ("retinanet_r18_fpn_shapes.yaml", "auto"),
    ],
)
def test_configs_load_with_their_bases(name, num_classes):
    cfg = load(name)
    assert cfg["model"]["type"] == "retinanet.RetinaNet"
    assert cfg["model"]["head"]["num_classes"] == num_classes
    assert {"val_dataloader", "metrics"} <= set(cfg)
    if not name.endswith("_tv.yaml"):  # the _tv configs are for testing converted weights
        assert {"train_dataloader", "optimizer", "param_schedulers"} <= set(cfg)


def test_tv_config_is_the_torchvision_architecture():
    model = load("retinanet_r50_fpn_tv.yaml")["model"]
    base = load("models/retinanet_r50_fpn.yaml")["model"]
    assert model == base  # the equivalence tests build this one
    assert model["backbone"] == {
        "type": "torchvision.ResNet",
        "depth": 50,
        "out_indices": [2, 3, 4],
        "frozen_stages": 1,
        "norm": "FrozenBN",
        "init": None,
    }
    assert model["neck"]["extra_blocks"] == "p6p7" and model["neck"]["p6p7_in"] == "p5"


def test_shapes_model_builds():
    cfg = load("retinanet_r18_fpn_shapes.yaml", "+data.classes=[rectangle,ellipse,triangle]")
    resolve_num_classes(cfg)  # num_classes: auto, here from data.classes (as --data writes it)
    model = MODELS.build(cfg["model"])
    assert model.head.num_classes == 3
