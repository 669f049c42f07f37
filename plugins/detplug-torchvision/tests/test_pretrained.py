"""``ResNet(weights="ResNet18_Weights.IMAGENET1K_V1")``: torchvision's weights API and cache,
proven with a fake TORCH_HOME holding random weights in torchvision's own format under
torchvision's own file name (nothing is downloaded)."""

from __future__ import annotations

import pytest
import torch
from detplug_torchvision.backbones.resnet import ResNet
from detplug_torchvision.pretrained import cached_file
from torchvision.models import ResNet18_Weights, resnet18

from detplug_core.errors import CheckpointError, ConfigError

NAME = "ResNet18_Weights.IMAGENET1K_V1"


def test_backbone_loads_torchvision_weights_from_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")  # a download attempt would be an error
    path = cached_file(ResNet18_Weights.IMAGENET1K_V1.url)
    assert path.parent == tmp_path / "hub" / "checkpoints" and path.name == "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    state = resnet18().state_dict()  # torchvision's own keys, fc included
    torch.save(state, path)
    net = ResNet(depth=18, weights=NAME)
    assert torch.equal(net.body.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(net.body.bn1.running_var, state["bn1.running_var"])


def test_missing_or_unsupported_weights_are_user_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")
    with pytest.raises(CheckpointError) as err:
        ResNet(depth=18, weights=NAME)
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and ResNet18_Weights.IMAGENET1K_V1.url in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    with pytest.raises(ConfigError, match=r"supported: ResNet18_Weights.IMAGENET1K_V1$"):
        ResNet(depth=18, weights="ResNet50_Weights.IMAGENET1K_V2")
