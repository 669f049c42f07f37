"""``sync_bn``: BatchNorm layers become SyncBatchNorm (same parameters), refused on CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detplug_core.errors import ConfigError
from detplug_core.runner.sync_bn import apply_sync_bn


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())


def test_off_leaves_the_model_and_cpu_is_refused_in_one_line():
    net = _net()
    assert apply_sync_bn(net, False, torch.device("cpu")) is net
    assert apply_sync_bn(net, None, torch.device("cpu")) is net
    with pytest.raises(ConfigError, match="sync_bn: true needs accelerator devices"):
        apply_sync_bn(net, True, torch.device("cpu"))
    with pytest.raises(ConfigError, match="expected true or false, got 'yes'"):
        apply_sync_bn(net, "yes", torch.device("cpu"))


def test_on_converts_batchnorm_keeping_the_parameters():
    net = _net()
    weight = net[1].weight
    converted = apply_sync_bn(net, True, torch.device("cuda", 0))  # conversion needs no GPU
    assert isinstance(converted[1], nn.SyncBatchNorm)
    assert converted[1].weight is weight  # an optimizer built before stays valid
