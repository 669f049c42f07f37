"""``load_from: RetinaNet_ResNet50_FPN_Weights.COCO_V1`` into the packaged
``retinanet::retinanet_r50_fpn_tv.yaml``, from a fake TORCH_HOME (no download)."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.testing.conversion import load_published_offline, published_weights
from torchvision.models.detection import RetinaNet_ResNet50_FPN_Weights, retinanet_resnet50_fpn


@pytest.mark.slow
def test_detector_weights_by_name(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    model, loaded, state = load_published_offline(
        RetinaNet_ResNet50_FPN_Weights.COCO_V1,
        "retinanet::retinanet_r50_fpn_tv.yaml",
        retinanet_resnet50_fpn,
        tmp_path,
        monkeypatch,
    )
    assert "RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1" not in published_weights()
    logits = model.state_dict()["head.cls_logits.bias"].view(9, 80)
    tv = state["head.classification_head.cls_logits.bias"].view(9, 91)
    assert torch.equal(logits[:, 0], tv[:, 1])  # person: torchvision slot 1
    assert loaded["meta"]["classes"][0] == "person" and len(loaded["meta"]["classes"]) == 80
