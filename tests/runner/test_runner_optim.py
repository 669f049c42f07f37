"""OPTIMIZERS exposes torch.optim by name; paramwise options make the documented groups."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from detplug_core import OPTIMIZERS
from detplug_core.errors import ConfigError
from detplug_core.runner.optim import build_optimizer


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)
        self.norm = nn.LayerNorm(2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_every_torch_optimizer_is_registered():
    expected = {
        name
        for name, obj in vars(torch.optim).items()
        if inspect.isclass(obj)
        and issubclass(obj, torch.optim.Optimizer)
        and obj is not torch.optim.Optimizer
    }
    assert {"SGD", "Adam", "AdamW", "RMSprop"} <= expected
    for name in expected:
        assert OPTIMIZERS.get(name) is getattr(torch.optim, name)


def test_paramwise_multipliers_and_frozen_parameters():
    net = Net()
    names = {id(p): n for n, p in net.named_parameters()}
    opt = build_optimizer(
        net,
        {
            "type": "AdamW",
            "lr": 0.1,
            "weight_decay": 0.5,
            "paramwise": {
                "norm_decay_mult": 0.0,
                "bias_decay_mult": 0.2,
                "bias_lr_mult": 2.0,
                "custom_keys": {"head": {"lr_mult": 0.1}, "head.weight": {"decay_mult": 3}},
            },
        },
    )
    assert isinstance(opt, torch.optim.AdamW)
    got = {
        names[id(p)]: (round(g["lr"], 12), round(g["weight_decay"], 12))
        for g in opt.param_groups
        for p in g["params"]
    }
    assert got == (
        {
            "backbone.0.weight": (0.1, 0.5),
            "backbone.0.bias": (0.2, 0.1),
            "backbone.1.weight": (0.1, 0.0),  # BatchNorm
            "backbone.1.bias": (0.1, 0.0),
            "head.weight": (0.1, 1.5),  # longest custom key wins
            "head.bias": (0.02, 0.1),
            "norm.weight": (0.1, 0.0),  # LayerNorm
            "norm.bias": (0.1, 0.0),
        }
    )
    assert len(opt.param_groups) == 5  # equal options share a group


def test_without_paramwise_one_group_of_trainable_parameters():
    net = Net()
    opt = build_optimizer(net, {"type": "SGD", "lr": 0.01, "momentum": 0.9})
    assert len(opt.param_groups) == 1
    assert len(opt.param_groups[0]["params"]) == 8


def test_optimizer_config_errors():
    with pytest.raises(ConfigError, match="optimizer.paramwise.norm_decay: unknown option"):
        build_optimizer(Net(), {"type": "SGD", "lr": 0.1, "paramwise": {"norm_decay": 0}})
    with pytest.raises(ConfigError, match="optimizer.lr: missing"):
        build_optimizer(Net(), {"type": "SGD"})
    with pytest.raises(Exception, match="optimizer.momentun: SGD has no parameter"):
        build_optimizer(Net(), {"type": "SGD", "lr": 0.1, "momentun": 0.9})
