"""Rebuild a trained detector: from a training checkpoint, or from a config plus weights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from detplug_core.errors import CheckpointError

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class LoadedModel:
    """A detector in eval mode, its resolved config and its class names."""

    model: nn.Module
    config: Mapping[str, Any]
    classes: list[str]
    source: str


def load_model(
    source: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    random_init: bool = False,
) -> LoadedModel:
    """``source``: a ``detplug train`` checkpoint (config inside), or a config file (or
    ``SCOPE::path``) with ``weights`` a checkpoint or state dict for its model (``None``
    and ``random_init``: the model as initialised, for timing). Files are read by the one
    reader, ``detplug_core.runner.checkpoint.read_checkpoint``."""
    from detplug_core import MODELS
    from detplug_core.runner.checkpoint import read_checkpoint

    text = str(source)
    if text.endswith(CONFIG_SUFFIXES) or "::" in text:
        return _from_config(text, weights, random_init)
    ckpt = read_checkpoint(source)
    if ckpt.config is None or not isinstance(ckpt.config.get("model"), Mapping):
        raise CheckpointError(
            f"{source}: not a detplug training checkpoint (no saved config); give the "
            "config and the weights instead"
        )
    cfg = ckpt.config
    model = MODELS.build(cfg["model"], path="model")
    _load_state(model, ckpt.state_dict, source)
    return LoadedModel(model.eval(), cfg, ckpt.classes, str(Path(source)))


def _from_config(config: str, weights: str | os.PathLike | None, random_init: bool) -> LoadedModel:
    from detplug_core import MODELS
    from detplug_core.config import load_config
    from detplug_core.data.num_classes import resolve_num_classes
    from detplug_core.runner.checkpoint import read_checkpoint

    if weights is None and not random_init:
        raise CheckpointError(f"{config} is a config: give the weights to load into its model")
    cfg = load_config(config)
    ckpt = read_checkpoint(weights) if weights is not None else None
    classes = ckpt.classes if ckpt is not None else []
    resolve_num_classes(cfg, classes, f"the classes saved in {weights}")  # auto: their count
    model = MODELS.build(cfg["model"], path="model")
    if ckpt is None:
        return LoadedModel(model.eval(), cfg, [], config)
    _load_state(model, ckpt.state_dict, weights)
    return LoadedModel(model.eval(), cfg, classes, str(weights))


def _load_state(model: nn.Module, state_dict: dict[str, Tensor], source: str | os.PathLike) -> None:
    """All of the model's weights, or one error naming what does not fit."""
    from detplug_core.runner.weights import load_weights

    report = load_weights(model, source, state_dict)
    if not report.clean:
        raise CheckpointError(
            f"{source}: the weights do not fit the model: {'; '.join(report.lines())}"
        )
