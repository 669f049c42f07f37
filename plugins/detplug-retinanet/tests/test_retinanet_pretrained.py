"""``load_from: RetinaNet_ResNet50_FPN_Weights.COCO_V1`` from a fake TORCH_HOME holding random
weights in torchvision's own format under torchvision's own file name (no download)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from torchvision.models.detection import RetinaNet_ResNet50_FPN_Weights, retinanet_resnet50_fpn

from detplug_core import MODELS
from detplug_core.config import load_config
from detplug_core.plugins import make_plugin_manager
from detplug_core.runner.weights import load_weights, read_source

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "retinanet" / "retinanet_r50_fpn_tv.yaml"
NAME = "RetinaNet_ResNet50_FPN_Weights.COCO_V1"


@pytest.mark.slow
def test_detector_weights_by_name(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    state = retinanet_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    url = RetinaNet_ResNet50_FPN_Weights.COCO_V1.url
    torch.save(state, folder / os.path.basename(urlparse(url).path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")
    published: dict = {}
    for part in make_plugin_manager().hook.detplug_pretrained_weights():
        published.update(part)
    assert NAME in published and "RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1" not in published
    loaded = read_source(NAME, published)
    model = MODELS.build(load_config(CONFIG)["model"])
    report = load_weights(model, NAME, loaded)
    assert report.clean, report.lines()
    logits = model.state_dict()["head.cls_logits.bias"].view(9, 80)
    tv = state["head.classification_head.cls_logits.bias"].view(9, 91)
    assert torch.equal(logits[:, 0], tv[:, 1])  # person: torchvision slot 1
    assert loaded["meta"]["classes"][0] == "person" and len(loaded["meta"]["classes"]) == 80
