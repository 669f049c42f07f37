"""Converters from torchvision and torchvision's published weights by name, as the detector
plugins test them: the ``detplug convert`` command end to end, and ``load_from: NAME`` from a
fake ``TORCH_HOME`` holding random weights in torchvision's own format under torchvision's
own file name (nothing is downloaded)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn


def convert_with_cli(
    command: str, state: dict[str, Tensor], folder: Path, *options: str
) -> tuple[Path, dict[str, Any]]:
    """Save ``state`` as a torchvision checkpoint in ``folder``, run ``detplug convert
    COMMAND IN OUT *options``; the output path and the file it wrote (asserts exit 0)."""
    from click.testing import CliRunner

    from detplug_core.cli.main import cli

    src, dst = Path(folder) / "tv.pth", Path(folder) / "detplug.pth"
    torch.save(state, src)
    res = CliRunner().invoke(cli, ["convert", command, str(src), str(dst), *options])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output, res.output
    return dst, torch.load(dst, weights_only=True)


def load_converted(model: dict[str, Any], path: Path) -> nn.Module:
    """The model of config ``model`` in eval mode with the converted file ``path`` loaded
    by the runner's weight loader, which must use every tensor and fill every parameter."""
    from detplug_core import MODELS
    from detplug_core.runner.weights import load_weights

    ours = MODELS.build(model).eval()
    report = load_weights(ours, path)
    assert report.clean, report.lines()
    return ours


def assert_convert_refuses_bad_input(command: str, folder: Path) -> None:
    """A checkpoint of another model and a missing file are one-line errors, exit 2."""
    from click.testing import CliRunner

    from detplug_core.cli.main import cli

    src = Path(folder) / "other.pth"
    torch.save({"classifier.weight": torch.zeros(2, 2)}, src)
    res = CliRunner().invoke(cli, ["convert", command, str(src), str(Path(folder) / "o.pth")])
    assert res.exit_code == 2, res.output
    assert "unexpected key" in res.output and "classifier.weight" in res.output
    missing = str(Path(folder) / "nope.pth")
    res = CliRunner().invoke(cli, ["convert", command, missing, "x.pth"])
    assert res.exit_code == 2 and "not found" in res.output, res.output


def published_weights() -> dict[str, Callable[[], dict[str, Any]]]:
    """Every installed plugin's published weights by name (the ``load_from: NAME`` table)."""
    from detplug_core.plugins import make_plugin_manager

    offered: dict = {}
    for part in make_plugin_manager().hook.detplug_pretrained_weights():
        offered.update(part)
    return offered


def random_torchvision_state(build: Callable[..., nn.Module]) -> dict[str, Tensor]:
    """The state dict of torchvision's detector ``build`` (``fcos_resnet50_fpn``, ...) with
    its random initial weights (seed 0), as its published file holds it: FrozenBatchNorm2d
    buffers, so no ``num_batches_tracked``."""
    torch.manual_seed(0)
    state = build(weights=None, weights_backbone=None).state_dict()
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


def fake_torch_home(home: Path, weights: Any, state: dict[str, Tensor]) -> Path:
    """Save ``state`` where torchvision's cache keeps the file of ``weights`` (a WeightsEnum
    member) under ``home`` (a ``TORCH_HOME``); returns the file."""
    folder = Path(home) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / os.path.basename(urlparse(weights.url).path)
    torch.save(state, path)
    return path


def torchvision_detector(name: str) -> tuple[Any, Callable[..., nn.Module]]:
    """torchvision's weights ``name`` (``RetinaNet_ResNet50_FPN_Weights.COCO_V1``) and the
    detection model builder they belong to (``retinanet_resnet50_fpn``)."""
    from torchvision.models import (
        detection,
        get_model_builder,
        get_model_weights,
        get_weight,
        list_models,
    )

    weights = get_weight(name)
    model = next(m for m in list_models(module=detection) if get_model_weights(m) is type(weights))
    return weights, get_model_builder(model)


def load_published_offline(
    name: str, config: str, home: Path, monkeypatch: Any
) -> tuple[nn.Module, dict[str, Any], dict[str, Tensor]]:
    """``load_from: NAME`` for torchvision's weights ``name`` into the model of packaged
    ``config`` (``SCOPE::path``), which must load them cleanly. The weights' file is random
    weights of their torchvision detector in a fake ``TORCH_HOME`` at ``home``, and
    downloads are off. Returns the model, the loaded checkpoint dict and torchvision's
    state."""
    from detplug_core import MODELS
    from detplug_core.config import load_config
    from detplug_core.runner.weights import load_weights, read_source

    weights, build = torchvision_detector(name)
    state = random_torchvision_state(build)
    fake_torch_home(home, weights, state)
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")  # a download attempt would be an error
    loaded = read_source(name, published_weights())
    model = MODELS.build(load_config(config)["model"])
    report = load_weights(model, name, loaded)
    assert report.clean, report.lines()
    return model, loaded, state
