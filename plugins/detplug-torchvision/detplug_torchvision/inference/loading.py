"""Rebuild a trained detector: from a training checkpoint, or from a config plus weights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

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
    and ``random_init``: the model as initialised, for timing)."""
    from detplug_core import MODELS

    text = str(source)
    if text.endswith(CONFIG_SUFFIXES) or "::" in text:
        return _from_config(text, weights, random_init)
    from detplug_core.runner.checkpoint import load_file

    ckpt = load_file(source)
    cfg = ckpt.get("config") if isinstance(ckpt, Mapping) else None
    if not isinstance(cfg, Mapping) or not isinstance(ckpt.get("model"), Mapping):
        raise CheckpointError(
            f"{source}: not a detplug training checkpoint (no saved config/model); give the "
            "config and the weights instead"
        )
    model = MODELS.build(cfg["model"], path="model")
    _load_state(model, ckpt, source)
    classes = list((ckpt.get("meta") or {}).get("classes") or [])
    return LoadedModel(model.eval(), cfg, classes, str(Path(source)))


def _from_config(config: str, weights: str | os.PathLike | None, random_init: bool) -> LoadedModel:
    from detplug_core import MODELS
    from detplug_core.config import load_config
    from detplug_core.runner.checkpoint import load_file

    if weights is None and not random_init:
        raise CheckpointError(f"{config} is a config: give the weights to load into its model")
    cfg = load_config(config)
    loaded = load_file(weights) if weights is not None else None
    meta = loaded.get("meta") if isinstance(loaded, Mapping) else None
    classes = list((meta or {}).get("classes") or [])
    _resolve_num_classes(cfg, classes)
    model = MODELS.build(cfg["model"], path="model")
    if loaded is None:
        return LoadedModel(model.eval(), cfg, [], config)
    _load_state(model, loaded, weights)
    return LoadedModel(model.eval(), cfg, classes, str(weights))


def _resolve_num_classes(cfg: dict, classes: list[str]) -> None:
    """``num_classes: auto``: the class count the weights were saved with, else the one of
    the config's data (as a training run resolves it)."""
    from detplug_core.data.num_classes import AUTO, num_classes_entries, resolve_num_classes

    if not classes:
        resolve_num_classes(cfg)
        return
    for node, _ in num_classes_entries(cfg.get("model")):
        if node["num_classes"] == AUTO:
            node["num_classes"] = len(classes)


def _load_state(model: nn.Module, loaded: Any, source: str | os.PathLike) -> None:
    """All of the model's weights, or one error naming what does not fit."""
    from detplug_core.runner.weights import load_weights

    report = load_weights(model, source, loaded)
    if not report.clean:
        raise CheckpointError(
            f"{source}: the weights do not fit the model: {'; '.join(report.lines())}"
        )
