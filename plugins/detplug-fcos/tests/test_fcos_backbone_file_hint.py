"""``fcos::fcos_r50_fpn_1x_coco.yaml`` names a local ImageNet ResNet-50 file; when it is not
there the error says where to get it (issue 26, wall 6)."""

from __future__ import annotations

import pytest

from detplug_core.config import load_config
from detplug_core.errors import CheckpointError
from detplug_core.registry import MODELS


def test_the_missing_backbone_file_of_the_coco_recipe_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no checkpoints/ folder here
    cfg = load_config("fcos::fcos_r50_fpn_1x_coco.yaml")
    cfg["model"]["head"]["num_classes"] = 3
    with pytest.raises(CheckpointError) as err:
        MODELS.build(cfg["model"])
    text = str(err.value)
    assert "checkpoint not found: checkpoints/resnet50-0676ba61.pth" in text
    assert "torchvision's ResNet50_Weights.IMAGENET1K_V1" in text
    assert "download https://download.pytorch.org/models/resnet50-0676ba61.pth" in text
    assert "model.backbone.weights=ResNet50_Weights.IMAGENET1K_V1" in text
