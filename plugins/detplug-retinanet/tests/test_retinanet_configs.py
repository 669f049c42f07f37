"""The plugin's packaged configs load (with their _base_ files) and describe what they claim."""

from __future__ import annotations

import pytest
from detplug_torchvision.testing.recipes import (
    assert_recipe_loads,
    build_shapes_model,
    tv_recipe_model,
)


@pytest.mark.parametrize(
    ("name", "num_classes"),
    [
        ("retinanet_r50_fpn_tv.yaml", 80),
        ("retinanet_r50_fpn_1x_coco.yaml", "auto"),
        ("retinanet_r18_fpn_shapes.yaml", "auto"),
    ],
)
def test_configs_load_with_their_bases(name, num_classes):
    assert_recipe_loads(f"retinanet::{name}", "retinanet.RetinaNet", "head", num_classes)


def test_tv_config_is_the_torchvision_architecture():
    model = tv_recipe_model(
        "retinanet::retinanet_r50_fpn_tv.yaml",
        "retinanet::models/retinanet_r50_fpn.yaml",
        {"out_indices": [2, 3, 4]},
    )
    assert model["neck"]["extra_blocks"] == "p6p7" and model["neck"]["p6p7_in"] == "p5"


def test_shapes_model_builds():
    model = build_shapes_model("retinanet::retinanet_r18_fpn_shapes.yaml")
    assert model.head.num_classes == 3
