"""``load_from: FCOS_ResNet50_FPN_Weights.COCO_V1``: torchvision's weights API and cache,
proven with a fake TORCH_HOME holding random weights in torchvision's own format under
torchvision's own file name (nothing is downloaded)."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.testing.conversion import (
    fake_torch_home,
    published_weights,
    random_torchvision_state,
)
from fcos_testutils import build_from_config
from torchvision.models.detection import FCOS_ResNet50_FPN_Weights, fcos_resnet50_fpn

from detplug_core.errors import CheckpointError, ConfigError
from detplug_core.runner.weights import load_weights, read_source

NAME = "FCOS_ResNet50_FPN_Weights.COCO_V1"
CLS = "head.classification_head.cls_logits.weight"


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> tuple[str, dict[str, torch.Tensor]]:
    """TORCH_HOME/hub/checkpoints/fcos_resnet50_fpn_coco-99b0c9b7.pth with random weights."""
    home = tmp_path_factory.mktemp("torch_home")
    state = random_torchvision_state(fcos_resnet50_fpn)
    fake_torch_home(home, FCOS_ResNet50_FPN_Weights.COCO_V1, state)
    return str(home), state


@pytest.mark.slow
def test_detector_weights_by_name_load_whole_and_by_class_name(torch_home, monkeypatch) -> None:
    home, tv_state = torch_home
    monkeypatch.setenv("TORCH_HOME", home)
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")  # a download attempt would be an error
    loaded = read_source(NAME, published_weights())
    assert loaded["meta"]["classes"][:3] == ["person", "bicycle", "car"]
    coco = build_from_config("fcos_r50_fpn_tv.yaml", num_classes=80)
    report = load_weights(coco, NAME, loaded)
    assert report.clean and report.loaded == report.total
    tv_logits = tv_state[CLS]
    assert torch.equal(coco.state_dict()[CLS][0], tv_logits[1])  # person: torchvision slot 1
    # Fine-tuning on [car, person]: the rows of the two COCO classes are kept by name.
    two = build_from_config("fcos_r50_fpn_tv.yaml", num_classes=2)
    report = load_weights(two, NAME, loaded, classes=["car", "person"], class_map="by_name")
    assert torch.equal(two.state_dict()[CLS][0], tv_logits[3])  # car: torchvision slot 3
    assert torch.equal(two.state_dict()[CLS][1], tv_logits[1])
    assert [(m, why) for m, _, why in report.rows()] == [
        (
            "head.classification_head.cls_logits",
            "class_map by_name: kept 2 of 2 classes (car, person)",
        )
    ]


def test_unsupported_and_uncached_weights_are_user_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")
    published = published_weights()
    with pytest.raises(
        ConfigError,
        match=r"RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1: .*supported: "
        r".*FCOS_ResNet50_FPN_Weights.COCO_V1",
    ):
        read_source("RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1", published)
    with pytest.raises(CheckpointError) as err:
        read_source(NAME, published)
    message = str(err.value)
    assert "fcos_resnet50_fpn_coco-99b0c9b7.pth" in message
    assert FCOS_ResNet50_FPN_Weights.COCO_V1.url in message
    assert str(tmp_path / "hub" / "checkpoints") in message
