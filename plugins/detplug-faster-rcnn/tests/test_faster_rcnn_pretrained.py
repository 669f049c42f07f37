"""Faster R-CNN's published weights by name: torchvision's COCO model, background first, its
box classifier cut to the 80 COCO classes (detplug_torchvision.testing.conversion)."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.testing.conversion import load_published_offline, published_weights


@pytest.mark.slow
def test_detector_weights_by_name(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    model, loaded, state = load_published_offline(
        "FasterRCNN_ResNet50_FPN_Weights.COCO_V1",
        "faster_rcnn::faster_rcnn_r50_fpn_tv.yaml",
        tmp_path,
        monkeypatch,
    )
    assert "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1" not in published_weights()
    ours = model.state_dict()["roi_head.cls_score.bias"]
    tv = state["roi_heads.box_predictor.cls_score.bias"]
    assert ours.shape == (81,) and ours[0] == tv[0] and ours[1] == tv[1]  # background, person
    assert torch.equal(ours[12], tv[13])  # stop sign: COCO id 13, id 12 is a gap
    assert loaded["meta"]["classes"][:2] == ["person", "bicycle"]
