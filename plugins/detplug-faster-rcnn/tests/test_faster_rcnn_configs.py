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
        ("faster_rcnn_r50_fpn_tv.yaml", 80),
        ("faster_rcnn_r50_fpn_1x_coco.yaml", "auto"),
        ("faster_rcnn_r50_fpn_1x_voc0712.yaml", "auto"),
        ("faster_rcnn_r18_fpn_shapes.yaml", "auto"),
    ],
)
def test_configs_load_with_their_bases(name, num_classes):
    assert_recipe_loads(f"faster_rcnn::{name}", "faster_rcnn.FasterRCNN", "roi_head", num_classes)


def test_tv_config_is_the_torchvision_architecture():
    model = tv_recipe_model(
        "faster_rcnn::faster_rcnn_r50_fpn_tv.yaml",
        "faster_rcnn::models/faster_rcnn_r50_fpn.yaml",
        {"out_indices": [1, 2, 3, 4]},
    )
    assert model["neck"]["extra_blocks"] == "pool"


def test_voc0712_is_the_classic_recipe():
    cfg = assert_recipe_loads(
        "faster_rcnn::faster_rcnn_r50_fpn_1x_voc0712.yaml",
        "faster_rcnn.FasterRCNN",
        "roi_head",
        "auto",
    )
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
    model = build_shapes_model("faster_rcnn::faster_rcnn_r18_fpn_shapes.yaml")
    assert model.roi_head.num_classes == 3
