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


def load_published_offline(
    weights: Any, config: str, build: Callable[..., nn.Module], home: Path, monkeypatch: Any
) -> tuple[nn.Module, dict[str, Any], dict[str, Tensor]]:
    """``load_from: NAME`` for torchvision's ``weights`` (a WeightsEnum member, whose
    detector ``build`` makes the random file in a fake ``TORCH_HOME`` at ``home``; downloads
    are off) into the model of packaged ``config`` (``SCOPE::path``), which must load
    cleanly. Returns the model, the loaded checkpoint dict and torchvision's state."""
    from detplug_core import MODELS
    from detplug_core.config import load_config
    from detplug_core.runner.weights import load_weights, read_source

    state = random_torchvision_state(build)
    fake_torch_home(home, weights, state)
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setenv("DETPLUG_OFFLINE", "1")  # a download attempt would be an error
    name = f"{type(weights).__name__}.{weights.name}"
    loaded = read_source(name, published_weights())
    model = MODELS.build(load_config(config)["model"])
    report = load_weights(model, name, loaded)
    assert report.clean, report.lines()
    return model, loaded, state
