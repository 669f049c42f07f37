"""``load_from: RetinaNet_ResNet50_FPN_Weights.COCO_V1`` into the packaged ``_tv`` recipe,
from a fake TORCH_HOME (detplug_torchvision.testing.conversion; nothing is downloaded)."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.testing.conversion import load_published_offline, published_weights


@pytest.mark.slow
def test_detector_weights_by_name(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    name = "RetinaNet_ResNet50_FPN_Weights.COCO_V1"
    config = "retinanet::retinanet_r50_fpn_tv.yaml"
    model, loaded, state = load_published_offline(name, config, tmp_path, monkeypatch)
    assert "RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1" not in published_weights()  # V2: no
    logits = model.state_dict()["head.cls_logits.bias"].view(9, 80)
    tv = state["head.classification_head.cls_logits.bias"].view(9, 91)
    assert torch.equal(logits[:, 0], tv[:, 1])  # person: torchvision slot 1
    assert loaded["meta"]["classes"][0] == "person" and len(loaded["meta"]["classes"]) == 80
