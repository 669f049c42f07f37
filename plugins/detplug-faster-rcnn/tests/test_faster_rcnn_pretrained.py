"""``load_from: FasterRCNN_ResNet50_FPN_Weights.COCO_V1`` into the packaged
``faster_rcnn::faster_rcnn_r50_fpn_tv.yaml``, from a fake TORCH_HOME (no download)."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.testing.conversion import load_published_offline, published_weights
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn


@pytest.mark.slow
def test_detector_weights_by_name(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    model, loaded, state = load_published_offline(
        FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
        "faster_rcnn::faster_rcnn_r50_fpn_tv.yaml",
        fasterrcnn_resnet50_fpn,
        tmp_path,
        monkeypatch,
    )
    assert "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1" not in published_weights()
    ours = model.state_dict()["roi_head.cls_score.bias"]
    tv = state["roi_heads.box_predictor.cls_score.bias"]
    assert ours.shape == (81,) and ours[0] == tv[0] and ours[1] == tv[1]  # background, person
    assert torch.equal(ours[12], tv[13])  # stop sign: COCO id 13, id 12 is a gap
    assert loaded["meta"]["classes"][0] == "person" and len(loaded["meta"]["classes"]) == 80
